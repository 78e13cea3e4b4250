// Command client is the Go version of Python rpcudp's example client: it
// calls sayhi on a server and prints the answer, or "No response
// received." (exiting 1) when none comes.
//
//	go run ./examples/client -addr 127.0.0.1:1234 -name "Snake Plissken"
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1234", "the server's UDP address")
	listen := flag.String("listen", "127.0.0.1:0", "local UDP address to call from")
	name := flag.String("name", "Snake Plissken", "the name to greet")
	method := flag.String("method", "sayhi", "the method to call")
	timeout := flag.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	flag.Parse()
	os.Exit(run(os.Stdout, os.Stderr, *addr, *listen, *method, *name, *timeout))
}

func run(stdout, stderr io.Writer, addr, listen, method, name string, timeout time.Duration) int {
	to, err := resolve(addr)
	if err != nil {
		fmt.Fprintln(stderr, "client:", err)
		return 2
	}
	ctx := context.Background()
	ep, err := rpcudp.Listen(ctx, listen, rpcudp.WithTimeout(timeout))
	if err != nil {
		fmt.Fprintln(stderr, "client:", err)
		return 2
	}
	defer ep.Close()
	answer, err := rpcudp.Invoke[string](ctx, ep, to, method, name)
	if err != nil {
		fmt.Fprintln(stdout, "No response received.")
		fmt.Fprintln(stderr, "client:", err)
		return 1
	}
	fmt.Fprintln(stdout, answer)
	return 0
}

// resolve accepts "host:port" with a literal IP or a resolvable name.
func resolve(addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap, nil
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return ua.AddrPort(), nil
}
