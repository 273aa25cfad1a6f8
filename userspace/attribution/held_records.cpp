#include "attribution/held_records.hpp"

namespace why502 {

void HeldRecords::Queue::pop_front() {
  ++front_;
  // Released records are moved-from shells: drop them once they are half the
  // queue, so a socket that always holds some does not grow without bound.
  constexpr size_t kCompactAfter = 16;
  if (front_ >= kCompactAfter && front_ * 2 >= records_.size()) {
    records_.erase(records_.begin(), records_.begin() + static_cast<ptrdiff_t>(front_));
    front_ = 0;
  }
}

}  // namespace why502
