// TCP record marking (RFC 5531 section 11): reassembles multi-fragment records from a
// byte stream with a hard cap on record size, and frames outgoing records.
// A fragment header that claims more than the cap fails the stream at once, before
// anything is allocated for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace nsm::rpc {

class RecordAssembler {
 public:
  explicit RecordAssembler(size_t max_record) : max_record_(max_record) {}

  // Consumes bytes; complete records are appended to `out`. Returns false when the
  // stream is invalid (oversized record); the connection should then be closed.
  bool Feed(std::span<const uint8_t> bytes, std::vector<std::vector<uint8_t>>* out);
  // Bytes held for an incomplete record (bounded by max_record + 4).
  size_t buffered() const { return record_.size() + header_fill_; }

 private:
  size_t max_record_;
  uint8_t header_[4] = {0, 0, 0, 0};
  size_t header_fill_ = 0;
  uint32_t frag_left_ = 0;
  bool in_fragment_ = false;
  bool last_fragment_ = false;
  std::vector<uint8_t> record_;
};

// One record as a single last fragment: 4-byte marker + payload.
std::vector<uint8_t> FrameRecord(std::span<const uint8_t> payload);

}  // namespace nsm::rpc
