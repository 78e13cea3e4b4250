// Command bench is a round-trip benchmark for rpcudp, in the spirit of
// wrk2 or ghz: it calls a method (echo by default) with -c calls in flight,
// or at a fixed rate, and reports throughput, latency percentiles (from an
// HDR histogram) and what the endpoints counted, as text, JSON or an HTML
// page.
//
// By default it starts an echo server in-process on loopback (127.0.0.1,
// or [::1] with -6); -addr targets a running server instead, such as
// ./examples/server, a Python rpcudp server or a Kademlia node:
//
//	go run ./examples/server &
//	go run ./examples/bench -addr 127.0.0.1:1234
//	go run ./examples/bench -addr 127.0.0.1:8468 -method ping -args '{"bin":"00112233445566778899aabbccddeeff00112233"}'
//
// -method names the method and -args its arguments as JSON, in the
// notation of examples/call (rpcudp/jsonmsg): repeat -args for each
// argument, or give one JSON array of them. Without -args the argument is
// the -s byte payload, and echo replies are checked against it. A
// preflight call says what is wrong when the target does not answer.
//
// The load is closed-loop by default: -c goroutines each making calls one
// after another through one shared client endpoint, -n calls in all or
// for -d. A stall of the server then holds back every call that would
// have been sent meanwhile, and its latency is never counted (coordinated
// omission). -rate R is open-loop, as wrk2: R calls a second on a fixed
// schedule whatever the answers, at most -c in flight; each latency counts
// from the call's scheduled send time, and the calls sent late (every -c
// slot busy, or the client too slow) are counted. -rate 10k,50k,100k
// sweeps: one row per rate, so that the knee of the latency curve shows.
//
//	go run ./examples/bench                          # 20000 calls, 32 in flight, 32-byte payload
//	go run ./examples/bench -n 100000 -c 64 -s 512   # more, wider, bigger
//	go run ./examples/bench -d 10s -c 1              # one call at a time for 10 s: pure latency
//	go run ./examples/bench -raw -n 50000            # side by side with plain UDP echo, rpc/raw ratios
//	go run ./examples/bench -loss 0.1 -retry 20ms    # drop 10% of datagrams; retries recover them
//	go run ./examples/bench -loss 0.1 -timeout 50ms  # the same without retries: timeouts
//	go run ./examples/bench -rate 20k -d 5s -c 256   # open loop at 20000 calls/s
//	go run ./examples/bench -rate 10k,50k,100k -d 3s -raw -html sweep.html
//	go run ./examples/bench -addr 127.0.0.1:1234 -json | jq .rpc.latency_us
//	go run ./examples/bench compare before.json after.json -html compare.html
//
// -raw runs the same load a second time as plain UDP echo in the same
// process (one client socket shared by the -c goroutines, a reader
// goroutine matching replies by an 8-byte sequence number, an echo server
// writing back each datagram), so that the rpc/raw ratios show what the
// RPC layer costs. -loss P drops each datagram with probability P on
// purpose (requests as the client sends them, replies as the server sends
// them; with -addr, replies as the client reads them), from a generator
// seeded by -seed.
//
// Every report states the machine (OS/arch, CPUs, GOMAXPROCS, Go version),
// the payload and request sizes, whether the server ran in-process, the
// socket buffers granted and the datagrams the kernel dropped, and warns
// when the client may have been the bottleneck: over 1% of the calls not
// sent on schedule, or the process's CPU time near GOMAXPROCS times the
// wall time. -html FILE writes one self-contained page (inline CSS and
// SVG, no script, nothing fetched): the HDR percentile plot of rpc and raw
// latencies, throughput and p99 over time, the settings and the machine,
// and the -json numbers. "bench compare A.json B.json" prints two runs
// saved with -json side by side with B/A ratios, and -html there draws
// both.
//
// Progress goes to stderr: a bar when it is a terminal, else a line a
// second. -json prints one JSON object with every result on stdout and no
// progress. The exit status is 2 when the run cannot be set up (bad flags,
// no server answering), 1 when no call succeeded, else 0.
package main
