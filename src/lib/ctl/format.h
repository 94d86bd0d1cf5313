// statdctl's output formats: aligned text tables, times and durations, terminal-safe
// text, and the daemon's counters as a table or in Prometheus' text exposition format
// (the node_exporter textfile collector's input). Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "control/json.h"

namespace nsm::ctl {

// Columns separated by two spaces, each as wide as its widest cell; no trailing blanks.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void Add(std::vector<std::string> row);
  bool empty() const { return rows_.empty(); }
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "2024-05-01 12:00:00Z" (UTC); "-" for 0.
std::string FormatTime(int64_t unix_seconds);
// "3d04h", "2h03m", "5m07s", "42s".
std::string FormatDuration(int64_t seconds);
// Non-printable bytes as \xNN, so stored text cannot drive the terminal.
std::string Printable(std::string_view s);
// "a, b, c" or "-".
std::string JoinOrDash(const std::vector<std::string>& items);

// The "stats" object of the control protocol ({section: {counter: N | {label: N}}})
// plus gauges read from the database ({"state": N, ...}; may be empty) as Prometheus
// text: nsm_up, nsm_<section>_<counter>[_total]{label="..."}, with # HELP and # TYPE.
// `up` false: only nsm_up 0 and the database gauges.
std::string PrometheusText(const control::Json& stats, const control::Json& db, bool up);

// The same counters as a table: COUNTER VALUE DESCRIPTION.
std::string StatsTable(const control::Json& stats, const control::Json& db);

}  // namespace nsm::ctl
