// LRU + TTL answer cache (see cache.h).
#include "resolver/cache.h"

namespace nsm::resolver {

std::optional<Result<Addresses>> Cache::Lookup(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end()) return std::nullopt;
  if (clock_.Now() >= it->second->expires) {
    Erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void Cache::Put(const std::string& key, Result<Addresses> value,
                std::chrono::steady_clock::duration ttl) {
  if (auto it = map_.find(key); it != map_.end()) Erase(it);
  if (capacity_ == 0 || ttl <= std::chrono::steady_clock::duration::zero()) return;
  while (map_.size() >= capacity_) {
    // Evict the least recently used entry.
    auto victim = std::prev(lru_.end());
    Erase(map_.find(victim->key));
  }
  lru_.push_front(Entry{key, std::move(value), clock_.Now() + ttl});
  map_.emplace(key, lru_.begin());
}

void Cache::Clear() {
  map_.clear();
  lru_.clear();
}

void Cache::Erase(std::unordered_map<std::string, std::list<Entry>::iterator>::iterator it) {
  lru_.erase(it->second);
  map_.erase(it);
}

}  // namespace nsm::resolver
