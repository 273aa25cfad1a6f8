#include "attribution/held_records.hpp"

namespace why502 {

bool HeldRecords::Queue::hold(PageOf page, Record&& record, uint64_t deadline_ns, bool keep_unconfirmed) {
  for (size_t i = front_; i < records_.size(); ++i) {
    if (records_[i].page == page) {
      records_[i].record = std::move(record);
      records_[i].deadline_ns = deadline_ns;
      records_[i].keep_unconfirmed = keep_unconfirmed;
      return true;
    }
  }
  records_.emplace_back(page, std::move(record), deadline_ns, keep_unconfirmed);
  return false;
}

bool HeldRecords::Queue::holds(PageOf page) const {
  for (size_t i = front_; i < records_.size(); ++i)
    if (records_[i].page == page) return true;
  return false;
}

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
