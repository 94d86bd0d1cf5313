// Running an io_context in tests until a condition holds (child processes, sockets:
// real time, not a fake clock).
#pragma once

#include <chrono>
#include <functional>

#include <asio/io_context.hpp>

namespace nsm::testing {

// Runs `io` in 20 ms slices until pred() or `limit`; false on time-out.
inline bool RunIoUntil(asio::io_context& io, const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace nsm::testing
