// The simulated device at Verilator speed: hw.device.Device (Verilated as `Vdevice`) with its external
// memory and its host link driven from C++, no Python on the per-cycle path (sim/fast/__init__.py builds
// and starts it).
//
// External memory: the model of sim/memory_model.py, cycle for cycle: a request {beat address, beats} is
// taken whenever offered; its beats come back in order, the first `latency` cycles after the request,
// then one every `cycles_per_beat` cycles, except while refreshing (every `refresh_interval` cycles for
// `refresh_cycles`); a beat must be taken the cycle it is offered. Writes {byte address, byte}: always ready.
//
// Host link: the device's rx/tx byte streams, one byte a cycle, carry exactly the bytes a board's serial
// link would: from a TCP client (one at a time) and/or a pseudo-terminal (any serial client). While the
// device is quiet (Device.quiet: nothing to do until a byte arrives) and no byte waits, the clock stops
// and the harness sleeps in poll(): an idle device costs no CPU.
//
// Standard output: one line per endpoint ("tcp 127.0.0.1:PORT", "pty /dev/pts/N") then "ready"; on exit,
// "stats cycles=... seconds=... cycles_per_second=..." on standard error. Exit status 0 when stopped
// (SIGINT/SIGTERM, or the client left under --once), 2 for bad arguments, 3 for a broken memory rule.

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include <vector>

#include <type_traits>
#include <utility>

#include "Vdevice.h"
#include "Vdevice___024root.h"
#include "verilated.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
using Trace = VerilatedFstC;
#elif VM_TRACE
#include "verilated_vcd_c.h"
using Trace = VerilatedVcdC;
#endif

// Verilator spells the port `a__b` of the Verilog as `a___05Fb` (an escaped underscore).
#define PORT(stream, field) stream##___05F##field

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

[[noreturn]] void fail(int status, const std::string& message) {
    std::fprintf(stderr, "harness: error: %s\n", message.c_str());
    std::exit(status);
}

struct Options {
    uint64_t memory_size = 0;          // bytes of external memory (a multiple of mem_bytes)
    unsigned mem_bytes = 0;            // bytes a beat
    unsigned addr_bits = 0;            // beat-address field of mem_req's payload (the beat count above it)
    unsigned latency = 0;              // cycles from a request to its first beat
    unsigned cycles_per_beat = 1;
    unsigned refresh_interval = 0;     // 0: no refresh
    unsigned refresh_cycles = 0;
    int tcp_port = -1;                 // -1: no TCP endpoint; 0: any free port
    bool pty = false;
    bool once = false;                 // exit when the first TCP client leaves
    const char* waves = nullptr;       // FST file (builds with tracing only)
    uint64_t max_cycles = 0;           // 0: unbounded
    unsigned poll_cycles = 256;        // cycles between looks at the endpoints while the device works (keep it
                                       // well below the link's frame timeout: a frame may arrive in pieces)
};

uint64_t number(const char* name, const char* text) {
    char* end = nullptr;
    errno = 0;
    unsigned long long value = std::strtoull(text, &end, 0);
    if (errno || !*text || *end) fail(2, std::string("bad number for ") + name + ": " + text);
    return value;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) fail(2, arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--memory-size") o.memory_size = number("--memory-size", value());
        else if (arg == "--mem-bytes") o.mem_bytes = number("--mem-bytes", value());
        else if (arg == "--addr-bits") o.addr_bits = number("--addr-bits", value());
        else if (arg == "--latency") o.latency = number("--latency", value());
        else if (arg == "--cycles-per-beat") o.cycles_per_beat = number("--cycles-per-beat", value());
        else if (arg == "--refresh-interval") o.refresh_interval = number("--refresh-interval", value());
        else if (arg == "--refresh-cycles") o.refresh_cycles = number("--refresh-cycles", value());
        else if (arg == "--tcp-port") o.tcp_port = number("--tcp-port", value());
        else if (arg == "--pty") o.pty = true;
        else if (arg == "--once") o.once = true;
        else if (arg == "--waves") o.waves = value();
        else if (arg == "--max-cycles") o.max_cycles = number("--max-cycles", value());
        else if (arg == "--poll-cycles") o.poll_cycles = number("--poll-cycles", value());
        else if (arg.rfind("+verilator", 0) == 0) continue;
        else fail(2, "unknown option " + arg);
    }
    if (!o.mem_bytes || o.mem_bytes > 64 || !o.memory_size || o.memory_size % o.mem_bytes)
        fail(2, "--mem-bytes (1..64) and --memory-size (a multiple of it) are required");
    if (!o.addr_bits || o.addr_bits > 40) fail(2, "--addr-bits (1..40) is required");
    if (!o.cycles_per_beat) fail(2, "--cycles-per-beat must be at least 1");
    if (!o.poll_cycles) fail(2, "--poll-cycles must be at least 1");
    if (o.tcp_port < 0 && !o.pty) fail(2, "no endpoint: give --tcp-port and/or --pty");
#if !VM_TRACE
    if (o.waves) fail(2, "--waves needs a build with tracing (sim.fast.build(..., waves=True))");
#endif
    return o;
}

// Payload bytes into a Verilated port of any width (little-endian, as Amaranth packs them).
template <typename T> void put_bytes(T& port, const uint8_t* bytes, unsigned count) {
    uint64_t value = 0;
    for (unsigned k = 0; k < count; ++k) value |= uint64_t(bytes[k]) << (8 * k);
    port = static_cast<T>(value);
}
template <std::size_t N> void put_bytes(VlWide<N>& port, const uint8_t* bytes, unsigned count) {
    for (std::size_t w = 0; w < N; ++w) port[w] = 0;
    for (unsigned k = 0; k < count; ++k) port[k / 4] |= uint32_t(bytes[k]) << (8 * (k % 4));
}

// One eval() a cycle instead of two. The device's outputs depend on its state only (no input reaches an
// output combinationally: the stream rules), so they can be sampled after the previous edge, and the next
// rising edge can be signalled by clearing Verilator's record of the clock's last value instead of a
// falling-edge eval(), which would re-evaluate all input-dependent logic for nothing. Where this
// Verilator names that record otherwise, and in a build with waves (where the clock must be seen to
// toggle), the harness evaluates twice a cycle.
template <typename Root, typename = void> struct HasClockRecord : std::false_type {};
template <typename Root>
struct HasClockRecord<Root, std::void_t<decltype(std::declval<Root&>().__Vtrigprevexpr___TOP__clk__0)>>
    : std::true_type {};

template <typename Top, typename Dump> void rising_edge(Top& top, Dump&& dump) {
    using Root = std::remove_reference_t<decltype(*top.rootp)>;
    if constexpr (HasClockRecord<Root>::value && !VM_TRACE) {
        top.clk = 1;
        top.rootp->__Vtrigprevexpr___TOP__clk__0 = 0;
        top.eval();
    } else {
        top.clk = 0;
        top.eval();
        dump();
        top.clk = 1;
        top.eval();
        dump();
    }
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// One byte sink/source of the link: the TCP client or the pseudo-terminal's master side.
struct Endpoint {
    int fd = -1;
    std::vector<uint8_t> out;          // bytes the device sent that the client has not taken yet
    bool attached = false;             // a client is there to read what we write

    // Move what can be moved now; false when the client has gone.
    bool exchange(std::deque<uint8_t>& incoming) {
        if (fd < 0) return true;
        uint8_t buffer[65536];
        for (;;) {
            ssize_t got = read(fd, buffer, sizeof buffer);
            if (got > 0) { incoming.insert(incoming.end(), buffer, buffer + got); continue; }
            if (got == 0) return false;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return false;                  // EIO (pty without a client), ECONNRESET
        }
        size_t at = 0;
        while (at < out.size()) {
            ssize_t sent = write(fd, out.data() + at, out.size() - at);
            if (sent > 0) { at += sent; continue; }
            if (sent < 0 && errno == EINTR) continue;
            if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            out.clear();
            return false;
        }
        out.erase(out.begin(), out.begin() + at);
        return true;
    }
};

struct Memory {
    const Options& o;
    std::vector<uint8_t> contents;
    std::deque<std::pair<uint64_t, uint64_t>> pending;   // (first cycle the beat may leave, beat address)
    uint64_t next_beat_cycle = 0;
    uint64_t beats_served = 0, bytes_written = 0;
    explicit Memory(const Options& options) : o(options), contents(options.memory_size, 0) {}
};

}  // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(argc, argv);
    auto top = std::make_unique<Vdevice>(context.get());
#if VM_TRACE
    std::unique_ptr<Trace> trace;
    uint64_t trace_time = 0;
    if (o.waves) {
        context->traceEverOn(true);
        trace = std::make_unique<Trace>();
        top->trace(trace.get(), 99);
        trace->open(o.waves);
    }
    auto dump = [&]() { if (trace) trace->dump(trace_time); trace_time += 5; };
#else
    auto dump = []() {};
#endif

    // --- Endpoints ---------------------------------------------------------------------------------
    int listener = -1;
    Endpoint tcp, pty;
    if (o.tcp_port >= 0) {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        int yes = 1;
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(o.tcp_port);
        if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) || listen(listener, 4))
            fail(2, "cannot listen on 127.0.0.1:" + std::to_string(o.tcp_port) + ": " + std::strerror(errno));
        socklen_t length = sizeof address;
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
        set_nonblocking(listener);
        std::printf("tcp 127.0.0.1:%u\n", ntohs(address.sin_port));
    }
    if (o.pty) {
        pty.fd = posix_openpt(O_RDWR | O_NOCTTY);
        if (pty.fd < 0 || grantpt(pty.fd) || unlockpt(pty.fd)) fail(2, std::string("no pseudo-terminal: ") + std::strerror(errno));
        const char* name = ptsname(pty.fd);
        int client = open(name, O_RDWR | O_NOCTTY);      // raw mode, so no byte is translated on the way
        if (client < 0) fail(2, std::string("cannot open ") + name + ": " + std::strerror(errno));
        termios mode{};
        tcgetattr(client, &mode);
        cfmakeraw(&mode);
        tcsetattr(client, TCSANOW, &mode);
        close(client);
        set_nonblocking(pty.fd);
        pty.attached = false;
        std::printf("pty %s\n", name);
    }
    std::printf("ready\n");
    std::fflush(stdout);

    // --- Reset, as sim/clocking.py: three cycles -------------------------------------------------------
    top->clk = 0;
    top->rst = 1;
    top->PORT(rx, valid) = 0;
    top->PORT(tx, ready) = 0;
    top->PORT(mem_req, ready) = 0;
    top->PORT(mem_resp, valid) = 0;
    top->PORT(mem_write, ready) = 0;
    for (int k = 0; k < 3; ++k) {
        top->clk = 0; top->eval(); dump();
        top->clk = 1; top->eval(); dump();
    }
    top->rst = 0;

    Memory memory(o);
    std::deque<uint8_t> incoming;
    uint64_t cycle = 0, quiet_sleeps = 0;
    const uint64_t addr_mask = (uint64_t(1) << o.addr_bits) - 1;
    auto started = std::chrono::steady_clock::now();
    double slept = 0;                                     // seconds the clock stood still (quiet device)

    // Move bytes both ways; notice a client that left; accept a TCP client when none is attached (in
    // this order, so a client that reconnects at once is not taken for a second one).
    auto service = [&]() {
        if (listener >= 0) {
            if (tcp.fd >= 0 && !tcp.exchange(incoming)) {
                close(tcp.fd);
                tcp.fd = -1;
                tcp.out.clear();
                if (o.once) g_stop = 1;
            }
            for (;;) {
                int client = accept(listener, nullptr, nullptr);
                if (client < 0) break;
                if (tcp.fd >= 0) {                        // one client at a time, as on a serial port
                    close(client);
                    std::fprintf(stderr, "harness: refused a second TCP client (one at a time)\n");
                    continue;
                }
                int yes = 1;
                setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
                set_nonblocking(client);
                tcp.fd = client;
                tcp.out.clear();                          // what the device said before belongs to nobody
                tcp.exchange(incoming);
            }
        }
        if (pty.fd >= 0) {
            pollfd probe{pty.fd, POLLIN, 0};
            poll(&probe, 1, 0);
            pty.attached = !(probe.revents & POLLHUP);
            if (!pty.attached) pty.out.clear();           // nobody on the line: the bytes are lost, as on a wire
            else pty.exchange(incoming);
        }
    };

    while (!g_stop && (!o.max_cycles || cycle < o.max_cycles)) {
        ++cycle;
        // --- This cycle's inputs (the clock is low) ---
        const bool refreshing = o.refresh_interval && cycle % o.refresh_interval < o.refresh_cycles;
        const bool offer = !memory.pending.empty() && memory.pending.front().first <= cycle &&
                           cycle >= memory.next_beat_cycle && !refreshing;
        if (offer) {
            uint64_t beat = memory.pending.front().second;
            memory.pending.pop_front();
            uint64_t start = beat * o.mem_bytes;
            if (start + o.mem_bytes > memory.contents.size())
                fail(3, "read of beat " + std::to_string(beat) + " beyond the memory");
            put_bytes(top->PORT(mem_resp, payload), memory.contents.data() + start, o.mem_bytes);
            memory.next_beat_cycle = cycle + o.cycles_per_beat;
            ++memory.beats_served;
        }
        top->PORT(mem_resp, valid) = offer;
        top->PORT(mem_req, ready) = 1;
        top->PORT(mem_write, ready) = 1;
        top->PORT(tx, ready) = 1;
        top->PORT(rx, valid) = !incoming.empty();
        if (!incoming.empty()) top->PORT(rx, payload) = incoming.front();
        // --- What the coming edge samples (outputs are functions of the state: see rising_edge) ---
        if (offer && !top->PORT(mem_resp, ready)) fail(3, "the reader did not take a beat the cycle it was offered");
        if (top->PORT(mem_write, valid)) {
            uint64_t write = top->PORT(mem_write, payload);
            uint64_t address = write & 0xFFFFFFFFu;
            if (address >= memory.contents.size()) fail(3, "write beyond the memory at " + std::to_string(address));
            memory.contents[address] = uint8_t(write >> 32);
            ++memory.bytes_written;
        }
        if (top->PORT(mem_req, valid)) {
            uint64_t payload = top->PORT(mem_req, payload);
            uint64_t beat = payload & addr_mask, beats = payload >> o.addr_bits;
            if (!beats) fail(3, "a request for no beats");
            for (uint64_t k = 0; k < beats; ++k) memory.pending.emplace_back(cycle + o.latency, beat + k);
        }
        const bool took_byte = top->PORT(rx, valid) && top->PORT(rx, ready);
        if (took_byte) incoming.pop_front();
        if (top->PORT(tx, valid)) {
            uint8_t byte = top->PORT(tx, payload);
            if (tcp.fd >= 0) tcp.out.push_back(byte);
            if (pty.fd >= 0 && pty.attached) pty.out.push_back(byte);
        }
        // Quiet after this edge: quiet now, and nothing handed over in this cycle changes that.
        const bool quiet = top->quiet && !took_byte && !offer && incoming.empty() && memory.pending.empty();
        rising_edge(*top, dump);

        if (quiet || cycle % o.poll_cycles == 0) {
            service();
            // Quiet and nothing arrived: stop the clock until a byte (or a client) comes; meanwhile what
            // the device said goes out as the clients take it.
            while (quiet && incoming.empty() && !g_stop) {
                pollfd fds[3];
                nfds_t count = 0;
                if (listener >= 0) fds[count++] = {listener, POLLIN, 0};
                if (tcp.fd >= 0) fds[count++] = {tcp.fd, short(POLLIN | (tcp.out.empty() ? 0 : POLLOUT)), 0};
                if (pty.fd >= 0 && pty.attached) fds[count++] = {pty.fd, short(POLLIN | (pty.out.empty() ? 0 : POLLOUT)), 0};
                // A pty without a client cannot be waited on (it reports a hang-up at once): look again soon.
                auto before = std::chrono::steady_clock::now();
                poll(fds, count, pty.fd >= 0 && !pty.attached ? 50 : 500);
                slept += std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
                ++quiet_sleeps;
                service();
            }
        }
    }
    if (listener >= 0 && tcp.fd >= 0) tcp.exchange(incoming);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() - slept;
    std::fprintf(stderr, "stats cycles=%llu seconds=%.3f cycles_per_second=%.0f slept=%.3f beats=%llu "
                 "bytes_written=%llu quiet_sleeps=%llu\n", (unsigned long long)cycle, seconds,
                 cycle / (seconds > 0 ? seconds : 1), slept, (unsigned long long)memory.beats_served,
                 (unsigned long long)memory.bytes_written, (unsigned long long)quiet_sleeps);
#if VM_TRACE
    if (trace) trace->close();
#endif
    top->final();
    return 0;
}
