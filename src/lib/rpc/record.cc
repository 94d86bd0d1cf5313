// Record marking.
#include "rpc/record.h"

namespace nsm::rpc {

bool RecordAssembler::Feed(std::span<const uint8_t> bytes, std::vector<std::vector<uint8_t>>* out) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (!in_fragment_) {
      header_[header_fill_++] = bytes[i++];
      if (header_fill_ < 4) continue;
      header_fill_ = 0;
      uint32_t h = (uint32_t{header_[0]} << 24) | (uint32_t{header_[1]} << 16) |
                   (uint32_t{header_[2]} << 8) | uint32_t{header_[3]};
      last_fragment_ = (h & 0x80000000u) != 0;
      frag_left_ = h & 0x7fffffffu;
      if (frag_left_ > max_record_ - record_.size()) return false;
      in_fragment_ = true;
    }
    size_t take = std::min<size_t>(frag_left_, bytes.size() - i);
    record_.insert(record_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(i),
                   bytes.begin() + static_cast<std::ptrdiff_t>(i + take));
    i += take;
    frag_left_ -= static_cast<uint32_t>(take);
    if (frag_left_ == 0) {
      in_fragment_ = false;
      if (last_fragment_) {
        out->push_back(std::move(record_));
        record_.clear();
      }
    }
  }
  return true;
}

std::vector<uint8_t> FrameRecord(std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(payload.size() + 4);
  uint32_t h = 0x80000000u | static_cast<uint32_t>(payload.size());
  out.push_back(static_cast<uint8_t>(h >> 24));
  out.push_back(static_cast<uint8_t>(h >> 16));
  out.push_back(static_cast<uint8_t>(h >> 8));
  out.push_back(static_cast<uint8_t>(h));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace nsm::rpc
