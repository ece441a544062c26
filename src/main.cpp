// usher [-d] [-q] [-v] [-u user] [-V] [-h] config.ini
// Composition only: parse the command line, load the configuration, set up
// logging and the pidfile, then hand over to the runtime.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "config/config.h"
#include "runtime/logging.h"
#include "runtime/runtime.h"
#include "version.h"

namespace {

struct Options {
  bool daemon = false;
  bool quiet = false;
  int verbose = 0;
  std::string user;
  std::string config_path;
};

void usage(FILE* out) {
  std::fprintf(out,
               "usher is a PostgreSQL connection pooler, compatible with PgBouncer.\n\n"
               "Usage:\n  usher [OPTION]... CONFIG_FILE\n\n"
               "Options:\n"
               "  -d, --daemon         run in background (as a daemon)\n"
               "  -q, --quiet          run quietly\n"
               "  -u, --user=USERNAME  assume identity of USERNAME\n"
               "  -v, --verbose        increase verbosity\n"
               "  -V, --version        show version, then exit\n"
               "  -h, --help           show this help, then exit\n");
}

// Returns -1 to go on, or an exit code.
int parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-d" || a == "--daemon") {
      o.daemon = true;
    } else if (a == "-q" || a == "--quiet") {
      o.quiet = true;
    } else if (a == "-v" || a == "--verbose") {
      ++o.verbose;
    } else if (a == "-vv") {
      o.verbose += 2;
    } else if (a == "-u" || a == "--user") {
      if (++i >= argc) {
        usage(stderr);
        return 1;
      }
      o.user = argv[i];
    } else if (a.starts_with("--user=")) {
      o.user = a.substr(7);
    } else if (a == "-V" || a == "--version") {
      std::printf("%s\n", usher::kVersionString);
      return 0;
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "usher: unknown option %s\n", a.c_str());
      usage(stderr);
      return 1;
    } else if (o.config_path.empty()) {
      o.config_path = a;
    } else {
      usage(stderr);
      return 1;
    }
  }
  if (o.config_path.empty()) {
    std::fprintf(stderr, "usher: need a config file\n");
    usage(stderr);
    return 1;
  }
  return -1;
}

bool write_pidfile(const std::string& path) {
  if (path.empty()) return true;
  std::ifstream existing(path);
  long old_pid = 0;
  if (existing >> old_pid && old_pid > 0 && ::kill(static_cast<pid_t>(old_pid), 0) == 0) {
    spdlog::error("pidfile {} exists and process {} is running", path, old_pid);
    return false;
  }
  std::ofstream out(path, std::ios::trunc);
  out << ::getpid() << "\n";
  return static_cast<bool>(out);
}

bool drop_privileges(const std::string& user) {
  if (user.empty()) return true;
  struct passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) {
    spdlog::error("could not find user '{}'", user);
    return false;
  }
  if (::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 ||
      ::setuid(pw->pw_uid) != 0) {
    spdlog::error("could not switch to user '{}': {}", user, std::strerror(errno));
    return false;
  }
  return true;
}

void daemonize() {
  if (::fork() > 0) std::_Exit(0);
  ::setsid();
  if (::fork() > 0) std::_Exit(0);
  int fd = ::open("/dev/null", O_RDWR);
  if (fd >= 0) {
    ::dup2(fd, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (fd > 2) ::close(fd);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (int rc = parse_args(argc, argv, opts); rc >= 0) return rc;

  auto loaded = usher::config::load_config(opts.config_path);
  if (!loaded) {
    std::fprintf(stderr, "usher: %s\n", loaded.error().message.c_str());
    return 1;
  }
  if (opts.daemon && loaded->config.logfile.empty() && !loaded->config.syslog) {
    std::fprintf(stderr, "usher: in daemon mode, logfile or syslog must be set\n");
    return 1;
  }
  usher::runtime::setup_logging(!opts.quiet && !opts.daemon, opts.verbose, loaded->config);
  for (const auto& w : loaded->warnings)
    spdlog::warn("{}", w);

  std::signal(SIGPIPE, SIG_IGN);
  std::string pidfile = loaded->config.pidfile;
  std::string run_as = opts.user.empty() ? loaded->config.user : opts.user;
  usher::runtime::Runtime rt(std::move(*loaded));
  if (auto st = rt.listen(); !st) {
    spdlog::error("{}", st.error().message);
    return 1;
  }
  if (opts.daemon) daemonize();
  if (!drop_privileges(run_as)) return 1;
  if (!write_pidfile(pidfile)) return 1;
  spdlog::info("{} started, {} workers", usher::kVersionString, rt.worker_count());
  rt.run();
  spdlog::info("shutdown complete");
  if (!pidfile.empty()) ::unlink(pidfile.c_str());
  return 0;
}
