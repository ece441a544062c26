// Where log lines go: stderr (unless -q or -d), logfile and syslog, in
// PgBouncer's line format. The sinks are rebuilt on RELOAD and SIGHUP, so a
// rotated logfile is reopened and a changed syslog or verbose setting applies.
#pragma once

#include "config/config.h"

namespace usher::runtime {

// Once at startup: `to_stderr` and `verbose` come from the command line.
void setup_logging(bool to_stderr, int verbose, const config::Config& config);

// Rebuilds the sinks from `config`; lines logged meanwhile are not lost.
void reopen_logging(const config::Config& config);

}  // namespace usher::runtime
