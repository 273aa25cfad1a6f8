// A hash map whose entries are also linked in the order they were last
// touched, oldest first, so the least recently touched entry is at hand in
// O(1) however full the map is: a bounded table evicts from that end, and
// expiry walks from it only as far as entries are stale.
//
// The links live in the map's own nodes (whose addresses never change), so
// keeping the order costs two pointers per entry and no allocation.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>

namespace why502 {

template <typename Key, typename Value, typename Hash = std::hash<Key>>
class AgeOrderedMap {
 public:
  using key_type = Key;
  using mapped_type = Value;

  AgeOrderedMap() = default;
  AgeOrderedMap(const AgeOrderedMap&) = delete;
  AgeOrderedMap& operator=(const AgeOrderedMap&) = delete;
  // A moved map keeps its nodes, so the links stay valid.
  AgeOrderedMap(AgeOrderedMap&& other) noexcept
      : map_(std::move(other.map_)),
        oldest_(std::exchange(other.oldest_, nullptr)),
        newest_(std::exchange(other.newest_, nullptr)) {
    other.map_.clear();
  }
  AgeOrderedMap& operator=(AgeOrderedMap&& other) noexcept {
    if (this != &other) {
      map_ = std::move(other.map_);
      other.map_.clear();
      oldest_ = std::exchange(other.oldest_, nullptr);
      newest_ = std::exchange(other.newest_, nullptr);
    }
    return *this;
  }

  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

  Value* find(const Key& key) {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second.value;
  }
  const Value* find(const Key& key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second.value;
  }
  // The value of key, made the newest; null when there is none.
  Value* find_and_touch(const Key& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    unlink(&*it);
    link_as_newest(&*it);
    return &it->second.value;
  }

  // The entry of key, made the newest; created (value-initialised) when there
  // was none, which `created` says.
  struct Touched {
    Value& value;
    bool created;
  };
  Touched touch(const Key& key) {
    auto [it, created] = map_.try_emplace(key);
    Slot* slot = &*it;
    if (!created) unlink(slot);
    link_as_newest(slot);
    return {slot->second.value, created};
  }

  bool erase(const Key& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    unlink(&*it);
    map_.erase(it);
    return true;
  }

  // Calls f(key, value) from the least recently touched entry on, as long as
  // it returns true.
  template <typename F>
  void for_each_oldest_first(F&& f) const {
    for (const Slot* slot = oldest_; slot && f(slot->first, slot->second.value); slot = slot->second.newer) {
    }
  }

  // Erases the least recently touched entries until at most capacity are left.
  void keep_newest(size_t capacity) {
    while (map_.size() > capacity && oldest_) {
      auto it = map_.find(oldest_->first);
      unlink(&*it);
      map_.erase(it);
    }
  }

  // The value of key, erased; nullopt when there was none.
  std::optional<Value> take(const Key& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    std::optional<Value> value(std::move(it->second.value));
    unlink(&*it);
    map_.erase(it);
    return value;
  }

  // The least recently touched entry, or null when the map is empty.
  const Key* oldest_key() const { return oldest_ ? &oldest_->first : nullptr; }
  const Value* oldest_value() const { return oldest_ ? &oldest_->second.value : nullptr; }

 private:
  struct Node {
    Value value{};
    std::pair<const Key, Node>* older = nullptr;
    std::pair<const Key, Node>* newer = nullptr;
  };
  using Slot = std::pair<const Key, Node>;

  void unlink(Slot* slot) {
    Node& n = slot->second;
    (n.older ? n.older->second.newer : oldest_) = n.newer;
    (n.newer ? n.newer->second.older : newest_) = n.older;
    n.older = n.newer = nullptr;
  }
  void link_as_newest(Slot* slot) {
    slot->second.older = newest_;
    slot->second.newer = nullptr;
    (newest_ ? newest_->second.newer : oldest_) = slot;
    newest_ = slot;
  }

  std::unordered_map<Key, Node, Hash> map_;
  Slot* oldest_ = nullptr;
  Slot* newest_ = nullptr;
};

}  // namespace why502
