// Reading whole messages during the phases where Usher talks rather than
// relays (startup, authentication, login to a server). The relay itself
// streams and never waits for whole messages it does not inspect.
#pragma once

#include <boost/asio.hpp>
#include <span>

#include "common/result.h"
#include "net/byte_buffer.h"
#include "net/stream.h"
#include "protocol/frame.h"

namespace usher::net {

struct Message {
  protocol::FrameHeader header;
  std::span<const uint8_t> body;  // valid until the buffer is consumed or grown
};

// Reads until one whole typed message is at the front of `buf`. It is not
// consumed: call buf.consume(msg.header.total()) when done with it.
asio::awaitable<Result<Message>> read_message(Stream& stream, ByteBuffer& buf, uint32_t max_length);

// Reads until `n` bytes are buffered.
asio::awaitable<Status> read_at_least(Stream& stream, ByteBuffer& buf, size_t n);

asio::awaitable<Status> write_all(Stream& stream, std::string_view bytes);

// Writes every buffer, in order. The relay's writes are small and the socket
// almost always has room, so this first sends without waiting (one sendmsg,
// no operation object, no trip through the event loop) and only waits for
// room for what did not fit. The relay's hot path calls the two halves
// itself (Stream::write_now, then write_rest only when needed): even an
// awaitable that never suspends costs a coroutine frame.
asio::awaitable<WriteResult> write_all(Stream& stream, std::span<const asio::const_buffer> buffers);

}  // namespace usher::net
