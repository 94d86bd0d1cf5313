// Fuzz target record: nsm::rpc::RecordAssembler, the TCP record-marking reassembler,
// fed a byte stream in pieces whose sizes the fuzzer chooses, with a small max_record.
// Input layout (FuzzedDataProvider): the last byte picks max_record (0..200), further
// bytes from the end pick the piece sizes (0..64), the stream comes from the front.
// Checks after every Feed: buffered() <= max_record + 4, every record <= max_record;
// and at the end the records, the failure and the buffered count equal those of a
// straightforward reference parser run over the whole stream at once (so splitting
// the stream never changes the result). Every record also survives FrameRecord.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_check.h"
#include "rpc/record.h"

namespace {

using Records = std::vector<std::vector<uint8_t>>;

struct ModelResult {
  Records records;
  bool failed = false;
  size_t buffered = 0;
};

// RFC 5531 section 11 over the whole stream; fails on a fragment that would make the
// record longer than max_record.
ModelResult Model(const std::vector<uint8_t>& s, size_t max_record) {
  ModelResult m;
  std::vector<uint8_t> cur;
  size_t pos = 0;
  while (s.size() - pos >= 4) {
    uint32_t h = (uint32_t{s[pos]} << 24) | (uint32_t{s[pos + 1]} << 16) |
                 (uint32_t{s[pos + 2]} << 8) | uint32_t{s[pos + 3]};
    pos += 4;
    bool last = (h & 0x80000000u) != 0;
    size_t len = h & 0x7fffffffu;
    if (cur.size() + len > max_record) {
      m.failed = true;
      return m;
    }
    size_t take = std::min(len, s.size() - pos);
    cur.insert(cur.end(), s.begin() + static_cast<std::ptrdiff_t>(pos),
               s.begin() + static_cast<std::ptrdiff_t>(pos + take));
    pos += take;
    if (take < len) {  // stream ends inside the fragment
      m.buffered = cur.size();
      return m;
    }
    if (last) {
      m.records.push_back(cur);
      cur.clear();
    }
  }
  m.buffered = cur.size() + (s.size() - pos);  // plus a partial fragment header
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const size_t max_record = fdp.ConsumeIntegralInRange<size_t>(0, 200);
  nsm::rpc::RecordAssembler assembler(max_record);

  std::vector<uint8_t> stream;  // what was fed, in order
  Records got;
  bool ok = true;
  while (ok && fdp.remaining_bytes() > 0) {
    size_t n = fdp.ConsumeIntegralInRange<size_t>(0, 64);
    std::vector<uint8_t> piece = fdp.ConsumeBytes<uint8_t>(n);
    stream.insert(stream.end(), piece.begin(), piece.end());
    size_t before = got.size();
    ok = assembler.Feed(piece, &got);
    if (!ok) break;
    FUZZ_CHECK(assembler.buffered() <= max_record + 4);
    for (size_t i = before; i < got.size(); ++i) FUZZ_CHECK(got[i].size() <= max_record);
  }
  for (const auto& rec : got) FUZZ_CHECK(rec.size() <= max_record);

  ModelResult m = Model(stream, max_record);
  FUZZ_CHECK(m.failed == !ok);
  FUZZ_CHECK(m.records == got);
  if (ok) FUZZ_CHECK(m.buffered == assembler.buffered());

  // Each record, framed as one last fragment, comes back whole from a fresh assembler.
  for (const auto& rec : got) {
    nsm::rpc::RecordAssembler fresh(max_record);
    Records out;
    FUZZ_CHECK(fresh.Feed(nsm::rpc::FrameRecord(rec), &out));
    FUZZ_CHECK(out.size() == 1 && out[0] == rec);
    FUZZ_CHECK(fresh.buffered() == 0);
  }
  return 0;
}
