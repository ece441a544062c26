// A pool's acquire and release: the life of a lease, on the hot path.
// pool_control.cpp has the rest (the janitor's work, reloads, the console's
// commands, what SHOW reads).
#include "pool/pool.h"

#include <algorithm>

#include "common/socket_id.h"
#include "protocol/sqlstate.h"

namespace usher::pool {

using asio::use_awaitable;

namespace {

constexpr auto kPeekAfterIdle = std::chrono::milliseconds(10);

Error login_retry_error() {
  return make_error(protocol::sqlstate::protocol_violation,
                    "server login has been failing, try again later (server_login_retry)");
}

}  // namespace

Pool::Pool(std::string database, std::string user, ServerTarget target, PoolSettings settings,
           int workers, std::shared_ptr<SharedLimit> db_limit,
           std::shared_ptr<SharedLimit> user_limit, net::OffloadPool& offload)
    : database_(std::move(database)),
      user_(std::move(user)),
      workers_(workers),
      offload_(offload),
      db_limit_(std::move(db_limit)),
      user_limit_(std::move(user_limit)),
      target_(std::move(target)),
      settings_(std::move(settings)),
      idle_(workers),
      waiters_(workers),
      reset_query_always_(settings_.server_reset_query_always),
      server_check_delay_(settings_.server_check_delay),
      own_query_timeout_(settings_.server_connect_timeout),
      stats_(workers) {}

bool Pool::can_open_locked(bool reserve) const {
  int cap = settings_.pool_size + (reserve ? settings_.reserve_pool_size : 0);
  return total_ < cap;
}

void Pool::open_slot_locked() {
  ++total_;
  ++connecting_;
}

void Pool::close_slot_locked() {
  --total_;
  db_limit_->give_back();
  user_limit_->give_back();
}

bool Pool::try_grant_locked(int worker, Grant& grant) {
  if (closed_) {
    grant = Grant{GrantKind::kError, nullptr, std::make_unique<Error>(closed_reason_)};
    return true;
  }
  if (paused_ || !waiters_.empty()) return false;  // never jump the queue
  auto take_idle = [&](int w) {
    grant.kind = GrantKind::kServer;
    grant.server = pop_idle_locked(idle_[w]);
  };
  if (!idle_[worker].empty()) {
    take_idle(worker);
    return true;
  }
  // Another worker's idle server before a new connection: moving a socket
  // costs two epoll_ctl calls; a new connection costs a backend.
  if (idle_count_ > 0) {
    for (int w = 0; w < workers_; ++w) {
      if (!idle_[w].empty()) {
        take_idle(w);
        return true;
      }
    }
  }
  if (can_open_locked(false)) {
    if (!db_limit_->try_take()) return false;
    if (!user_limit_->try_take()) {
      db_limit_->give_back();
      return false;
    }
    open_slot_locked();
    grant.kind = GrantKind::kConnect;
    return true;
  }
  return false;
}

std::optional<Error> Pool::unreachable() const {
  std::lock_guard lock(mu_);
  if (!unreachable_locked()) return std::nullopt;
  return login_error_;
}

bool Pool::unreachable_locked() const {
  // Classes of a server that is down, starting, stopping or full.
  constexpr std::string_view kConnectionFailure = "08", kOperatorIntervention = "57",
                             kInsufficientResources = "53";
  const std::string& s = login_error_.sqlstate;
  return login_failed_at_ != Clock::time_point{} &&
         (s.starts_with(kConnectionFailure) || s.starts_with(kOperatorIntervention) ||
          s.starts_with(kInsufficientResources));
}

asio::awaitable<Result<ServerPtr>> Pool::open_connection() {
  ServerTarget target;
  std::chrono::milliseconds timeout;
  ServerAuth weakest_allowed;
  {
    std::unique_lock lock(mu_);
    if (login_failed_at_ != Clock::time_point{} &&
        Clock::now() - login_failed_at_ < settings_.server_login_retry) {
      --connecting_;
      close_slot_locked();
      hand_off_locked(lock);  // the next waiter fails fast too
      co_return login_retry_error();
    }
    target = target_;
    // Several hosts: each new connection goes to the next one, or (stay_on_host)
    // to the same one until a connection fails.
    if (target.hosts.size() > 1) {
      target.host = target.hosts[next_host_ % target.hosts.size()];
      if (!target.stay_on_host) ++next_host_;
    }
    timeout = settings_.server_connect_timeout;
    weakest_allowed = strongest_auth_;
  }
  const auto started = Clock::now();
  auto result = co_await connect_server(target, timeout, next_socket_id(),
                                        LoginContext{offload_, weakest_allowed});
  if (result) {
    stats_.connect_latency().record_shared(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()));
  }
  std::unique_lock lock(mu_);
  --connecting_;
  if (!result) {
    close_slot_locked();
    // Running out of file descriptors says nothing about the server: only
    // the client that hit it fails, and the next one tries again.
    if (result.error().sqlstate != kInsufficientResources) {
      login_failed_at_ = Clock::now();
      login_error_ = result.error();
      if (target.stay_on_host) ++next_host_;  // the next try goes to the next host
    }
    // A waiter may now open a connection in the freed slot; it will fail
    // fast with the login-retry error until server_login_retry passes.
    hand_off_locked(lock);
    co_return result.take_error();
  }
  login_failed_at_ = {};
  strongest_auth_ = std::max(strongest_auth_, (*result)->auth);
  if (welcome_.empty()) welcome_ = (*result)->parameters();
  (*result)->generation = generation_;
  ++active_;
  co_return std::move(*result);
}

asio::awaitable<Result<ServerPtr>> Pool::acquire(int worker, asio::io_context& io,
                                                 uint64_t* ticket) {
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  while (true) {
    Grant grant;
    bool granted = false;
    if (!waiters_.has_waiters_hint()) {
      std::lock_guard lock(mu_);
      granted = try_grant_locked(worker, grant);
    }
    if (!granted) {
      // Re-check under the lock inside the initiation, so a release between
      // the check above and enqueueing cannot be missed.
      grant = co_await asio::async_initiate<decltype(use_awaitable), void(Grant)>(
          [this, worker, ticket, &executor](asio::any_completion_handler<void(Grant)> handler) {
            std::lock_guard lock(mu_);
            Waiter w{worker, Clock::now(), ++next_ticket_, executor, std::move(handler)};
            Grant now;
            if (try_grant_locked(worker, now)) {
              w.complete(std::move(now));
            } else {
              if (ticket != nullptr) *ticket = w.ticket;
              waiters_.push(std::move(w));
            }
          },
          use_awaitable);
    }
    switch (grant.kind) {
      case GrantKind::kError:
        co_return std::move(*grant.error);
      case GrantKind::kConnect: {
        auto server = co_await open_connection();
        if (!server) co_return server.take_error();
        (*server)->set_worker(worker);
        co_return std::move(*server);
      }
      case GrantKind::kServer: {
        ServerPtr server = std::move(grant.server);
        if (server->worker() != worker) server->adopt(io, worker);
        if (!check_due(*server) || co_await check(*server)) co_return server;
        discard(std::move(server));  // died while idle: try again
        break;
      }
    }
  }
}

void Pool::abandon(int worker, uint64_t ticket) {
  std::optional<Waiter> w = [&] {
    std::lock_guard lock(mu_);
    return waiters_.remove(worker, ticket);
  }();
  if (!w) return;
  w->complete(Grant{GrantKind::kError, nullptr,
                    std::make_unique<Error>(make_error(protocol::sqlstate::connection_failure,
                                                       "client connection lost"))});
}

ServerPtr Pool::try_take_idle(int worker) {
  if (waiters_.has_waiters_hint()) return nullptr;
  std::lock_guard lock(mu_);
  auto& list = idle_[worker];
  if (closed_ || paused_ || !waiters_.empty() || list.empty() ||
      check_due(**next_idle_locked(list))) {
    return nullptr;
  }
  return pop_idle_locked(list);
}

std::vector<ServerPtr>::iterator Pool::next_idle_locked(std::vector<ServerPtr>& list) {
  // LIFO keeps the fewest servers warm and lets the rest reach
  // server_idle_timeout; round robin spreads clients over every server.
  return settings_.server_round_robin ? list.begin() : list.end() - 1;
}

ServerPtr Pool::pop_idle_locked(std::vector<ServerPtr>& list) {
  auto it = next_idle_locked(list);
  ServerPtr server = std::move(*it);
  list.erase(it);
  --idle_count_;
  ++active_;
  return server;
}

bool Pool::check_due(const ServerConnection& server) const {
  auto idle = Clock::now() - server.last_used;
  return idle >= kPeekAfterIdle || idle >= server_check_delay_.load(std::memory_order_relaxed);
}

asio::awaitable<bool> Pool::check(ServerConnection& server) {
  // A backend that was terminated or restarted while idle has already sent
  // its FATAL or closed; one recv(MSG_PEEK) finds out. Skipped for a server
  // released moments ago (it costs a syscall per transaction, and that
  // window is the race any pooler has).
  auto idle = Clock::now() - server.last_used;
  if (idle >= kPeekAfterIdle && !server.idle_and_healthy()) co_return false;
  if (idle < server_check_delay_.load(std::memory_order_relaxed)) co_return true;
  std::string query;
  {
    std::lock_guard lock(mu_);
    query = settings_.server_check_query;
  }
  if (query.empty()) co_return true;
  if (query == config::kEmptyCheckQuery) query.clear();  // an empty Query: EmptyQueryResponse
  // Idle for longer than server_check_delay: make sure it still answers.
  Status st = co_await server.run_query(query, own_query_timeout());
  co_return st.ok();
}

void Pool::hand_off_locked(std::unique_lock<std::mutex>& lock) {
  // Called after a slot was freed: the oldest waiter may open a connection.
  while (!paused_ && !waiters_.empty() && can_open_locked(false)) {
    if (!db_limit_->try_take()) return;
    if (!user_limit_->try_take()) {
      db_limit_->give_back();
      return;
    }
    open_slot_locked();
    Waiter w = waiters_.pop_oldest();
    w.complete(Grant{GrantKind::kConnect, nullptr, {}});
  }
}

void Pool::release(ServerPtr server) {
  auto now = Clock::now();
  server->last_used = now;
  std::unique_lock lock(mu_);
  --active_;
  forget_close_needed_locked(*server);
  bool expired = server->generation != generation_ ||
                 (settings_.server_lifetime.count() > 0 &&
                  now - server->created_at > settings_.server_lifetime) ||
                 closed_;
  if (expired) {
    close_slot_locked();
    hand_off_locked(lock);
    lock.unlock();
    server->close();
    return;
  }
  if (!waiters_.empty() && !paused_) {
    Waiter w = waiters_.pop_for(server->worker());
    ++active_;
    w.complete(Grant{GrantKind::kServer, std::move(server), {}});
    return;
  }
  int w = server->worker();
  idle_[w].push_back(std::move(server));
  ++idle_count_;
}

void Pool::discard(ServerPtr server) {
  server->close();
  std::unique_lock lock(mu_);
  forget_close_needed_locked(*server);
  --active_;
  close_slot_locked();
  hand_off_locked(lock);
}

void Pool::forget_close_needed_locked(const ServerConnection& server) {
  if (server.generation != generation_ && close_needed_ > 0) --close_needed_;
}

}  // namespace usher::pool
