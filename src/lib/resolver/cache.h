// The parent's answer cache: name -> addresses (positive) or kNotFound (negative),
// each with its own expiry on a monotonic Clock, bounded by a least-recently-used
// eviction. Not thread-safe (the resolver serialises access). Only definitive
// answers belong here: never timeouts or temporary failures.
#pragma once

#include <chrono>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/clock.h"
#include "resolver/resolver.h"

namespace nsm::resolver {

class Cache {
 public:
  // capacity 0 disables the cache. clock is not owned and must outlive the Cache.
  Cache(size_t capacity, const Clock& clock) : capacity_(capacity), clock_(clock) {}

  // The cached answer, or nullopt when absent or expired (expired entries are dropped).
  // A hit makes the entry most recently used.
  std::optional<Result<Addresses>> Lookup(const std::string& key);
  // Inserts or replaces. ttl <= 0 stores nothing (and drops an older entry).
  void Put(const std::string& key, Result<Addresses> value,
           std::chrono::steady_clock::duration ttl);
  size_t size() const { return map_.size(); }
  void Clear();

 private:
  struct Entry {
    std::string key;
    Result<Addresses> value;
    std::chrono::steady_clock::time_point expires;
  };
  void Erase(std::unordered_map<std::string, std::list<Entry>::iterator>::iterator it);

  size_t capacity_;
  const Clock& clock_;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

}  // namespace nsm::resolver
