// A pool outside its clients' acquire and release: the janitor's periodic
// work (waiter timeouts, reserve pool, idle and lifetime limits,
// min_pool_size, the probe of a failed server), reloads, what clients teach it about logging in,
// the console's PAUSE, RECONNECT and KILL, and the counts SHOW reads.
#include <algorithm>
#include <tuple>

#include "pool/pool.h"
#include "protocol/sqlstate.h"

namespace usher::pool {

namespace {

Error wait_timeout_error() {
  // PgBouncer's wording, so existing alerting keeps matching.
  return make_error(protocol::sqlstate::protocol_violation, "query_wait_timeout");
}

}  // namespace

void Pool::set_paused(bool paused) {
  std::unique_lock lock(mu_);
  paused_ = paused;
  if (paused_) return;
  for (auto& list : idle_) {
    while (!list.empty() && !waiters_.empty()) {
      Waiter w = waiters_.pop_oldest();
      --idle_count_;
      ++active_;
      w.complete(Grant{GrantKind::kServer, std::move(list.back()), {}});
      list.pop_back();
    }
  }
  hand_off_locked(lock);
}

asio::awaitable<void> Pool::prefill(int worker) {
  {
    std::lock_guard lock(mu_);
    // Up to min_pool_size, or one connection: maintain()'s probe of a pool
    // whose server failed, when min_pool_size is 0.
    if (closed_ || total_ >= std::max(settings_.min_pool_size, 1) || !can_open_locked(false))
      co_return;
    if (!db_limit_->try_take()) co_return;
    if (!user_limit_->try_take()) {
      db_limit_->give_back();
      co_return;
    }
    open_slot_locked();
  }
  auto server = co_await open_connection();
  if (!server) co_return;
  (*server)->set_worker(worker);
  release(std::move(*server));
}

int Pool::maintain(Clock::time_point now) {
  std::vector<ServerPtr> to_close;
  int to_open = 0;
  {
    std::unique_lock lock(mu_);
    // query_wait_timeout: waiters are in arrival order, so expired ones are
    // a prefix of the queue.
    auto timeout = settings_.query_wait_timeout;
    while (timeout.count() > 0 && !waiters_.empty() && now - waiters_.oldest().since >= timeout) {
      Waiter w = waiters_.pop_oldest();
      w.complete(Grant{GrantKind::kError, nullptr, std::make_unique<Error>(wait_timeout_error())});
    }
    // Reserve pool: a waiter that has waited reserve_pool_timeout may open a
    // connection beyond pool_size.
    if (!waiters_.empty() && settings_.reserve_pool_size > 0 &&
        now - waiters_.oldest().since >= settings_.reserve_pool_timeout && can_open_locked(true) &&
        db_limit_->try_take()) {
      if (user_limit_->try_take()) {
        open_slot_locked();
        Waiter w = waiters_.pop_oldest();
        w.complete(Grant{GrantKind::kConnect, nullptr, {}});
      } else {
        db_limit_->give_back();
      }
    }
    hand_off_locked(lock);
    // Idle connections past server_idle_timeout or server_lifetime, keeping
    // min_pool_size.
    for (auto& list : idle_) {
      for (auto it = list.begin(); it != list.end();) {
        ServerConnection& s = **it;
        bool too_idle = settings_.server_idle_timeout.count() > 0 &&
                        now - s.last_used > settings_.server_idle_timeout &&
                        total_ > settings_.min_pool_size;
        bool too_old =
            settings_.server_lifetime.count() > 0 && now - s.created_at > settings_.server_lifetime;
        if (too_idle || too_old || closed_) {
          to_close.push_back(std::move(*it));
          it = list.erase(it);
          --idle_count_;
          close_slot_locked();
        } else {
          ++it;
        }
      }
    }
    if (!closed_ && total_ < settings_.min_pool_size &&
        (login_failed_at_ == Clock::time_point{} ||
         now - login_failed_at_ >= settings_.server_login_retry)) {
      to_open = settings_.min_pool_size - total_;
    }
    // A pool whose server could not be reached and that has none left
    // opens one connection once server_login_retry has passed, client or
    // no client: the readiness probe (http/) and the next client learn
    // that the server is back without a client having to fail first. Not
    // after a refused login (a wrong password, a missing database): trying
    // it again every few seconds would only fill the server's log.
    if (!closed_ && !paused_ && to_open == 0 && total_ == 0 && connecting_ == 0 &&
        unreachable_locked() && now - login_failed_at_ >= settings_.server_login_retry) {
      to_open = 1;
    }
  }
  for (auto& s : to_close)
    s->close();
  return to_open;
}

void Pool::update_settings(const PoolSettings& settings, const ServerTarget& target) {
  std::unique_lock lock(mu_);
  // What clients taught the pool (SCRAM keys, a password) outlives a reload
  // that configures nothing in its place, unless the server user changed.
  const bool same_user = target.user == target_.user;
  const bool keep_password = same_user && target_.password_learned && target.password.empty();
  bool target_changed = target.host != target_.host || target.hosts != target_.hosts ||
                        target.port != target_.port || target.dbname != target_.dbname ||
                        target.user != target_.user ||
                        (!keep_password && target.password != target_.password);
  settings_ = settings;
  reset_query_always_.store(settings.server_reset_query_always, std::memory_order_relaxed);
  server_check_delay_.store(settings.server_check_delay, std::memory_order_relaxed);
  own_query_timeout_.store(settings.server_connect_timeout, std::memory_order_relaxed);
  auto keys =
      std::make_tuple(target_.has_scram_keys, target_.scram_client_key, target_.scram_server_key);
  std::string learned = keep_password ? std::move(target_.password) : std::string();
  target_ = target;
  if (same_user) {
    std::tie(target_.has_scram_keys, target_.scram_client_key, target_.scram_server_key) = keys;
  }
  if (keep_password) {
    target_.password = std::move(learned);
    target_.password_learned = true;
  }
  if (target_changed) strongest_auth_ = ServerAuth::kNone;  // perhaps another server now
  hand_off_locked(lock);
  lock.unlock();
  if (target_changed) reconnect_all();
}

PoolSettings Pool::settings() const {
  std::lock_guard lock(mu_);
  return settings_;
}

ServerTarget Pool::target() const {
  std::lock_guard lock(mu_);
  return target_;
}

void Pool::set_scram_keys(const std::array<uint8_t, 32>& client_key,
                          const std::array<uint8_t, 32>& server_key) {
  std::lock_guard lock(mu_);
  target_.has_scram_keys = true;
  target_.scram_client_key = client_key;
  target_.scram_server_key = server_key;
}

void Pool::learn_password(const std::string& password) {
  std::lock_guard lock(mu_);
  if (!target_.password.empty() && !target_.password_learned) return;  // configured
  target_.password = password;
  target_.password_learned = true;
}

bool Pool::has_welcome() const {
  std::lock_guard lock(mu_);
  return !welcome_.empty();
}

std::vector<std::pair<std::string, std::string>> Pool::welcome() const {
  std::lock_guard lock(mu_);
  return welcome_;
}

void Pool::reconnect_all() {
  std::vector<ServerPtr> to_close;
  {
    std::unique_lock lock(mu_);
    ++generation_;
    // Every server in use is now an old one; idle ones are closed below.
    close_needed_ = active_;
    for (auto& list : idle_) {
      for (auto& s : list)
        to_close.push_back(std::move(s));
      list.clear();
    }
    for (size_t i = 0; i < to_close.size(); ++i)
      close_slot_locked();
    idle_count_ = 0;
    welcome_.clear();
    hand_off_locked(lock);
  }
  for (auto& s : to_close)
    s->close();
}

void Pool::close_all(const Error& reason) {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    closed_reason_ = reason;
    while (!waiters_.empty()) {
      Waiter w = waiters_.pop_oldest();
      w.complete(Grant{GrantKind::kError, nullptr, std::make_unique<Error>(reason)});
    }
  }
  reconnect_all();
}

PoolCounts Pool::counts(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  PoolCounts c;
  c.waiting = static_cast<int>(waiters_.size());
  c.active = active_;
  c.idle = idle_count_;
  c.login = connecting_;
  c.total = total_;
  if (!waiters_.empty()) {
    c.max_wait_seconds = std::chrono::duration<double>(now - waiters_.oldest().since).count();
  }
  return c;
}

int Pool::close_needed() const {
  std::lock_guard lock(mu_);
  return close_needed_;
}

uint64_t Pool::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

std::vector<IdleServerInfo> Pool::idle_servers(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  std::vector<IdleServerInfo> out;
  auto secs = [&](Clock::time_point t) { return std::chrono::duration<double>(now - t).count(); };
  for (const auto& list : idle_) {
    for (const auto& s : list) {
      out.push_back({s->id(), s->remote_addr, s->remote_port, s->backend_pid, secs(s->created_at),
                     secs(s->last_used), s->prepared.statements.size(), s->tls_info});
    }
  }
  return out;
}

}  // namespace usher::pool
