package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/service"
)

// options are the command line, parsed.
type options struct {
	timeout time.Duration
	retry   time.Duration
	listen  string
	list    bool
	target  service.Target // -namespace, -version
	watch   string
	watchD  time.Duration // -for
	addr    string
	method  string
	args    []string
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for the reply")
	fs.DurationVar(&o.retry, "retry", 0, "resend the request after this long, doubling (0: never, as Python)")
	fs.StringVar(&o.listen, "listen", "", "local UDP address to call from (default: any, of the server's family)")
	fs.BoolVar(&o.list, "list", false, "print the methods a Go server serves")
	fs.StringVar(&o.target.Namespace, "namespace", "", "the method's namespace (a rpcudp/service server's)")
	fs.StringVar(&o.target.Version, "version", "", "the version the method must be compatible with, as 2.0")
	fs.StringVar(&o.watch, "watch", "", "subscribe to this signal and print each emission as a JSON line")
	fs.DurationVar(&o.watchD, "for", 0, "with -watch: stop after this long (0: when interrupted)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: call [flags] HOST:PORT METHOD [ARG...]\n       call -list HOST:PORT\n       call -watch SIGNAL [-for D] HOST:PORT\n\n"+
			"Each ARG is JSON; bytes are {\"bin\":\"<hex>\"}, a float {\"float\":\"3\"}, a map with any keys {\"map\":[[k,v],...]}.\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	rest := fs.Args()
	if err := checkModes(o, len(rest)); err != nil {
		fs.Usage()
		return o, err
	}
	switch {
	case o.list && len(rest) != 1:
		fs.Usage()
		return o, errors.New("-list takes HOST:PORT alone")
	case !o.list && o.watch == "" && len(rest) < 2:
		fs.Usage()
		return o, errors.New("HOST:PORT and METHOD are required")
	case o.timeout <= 0 || o.retry < 0:
		return o, errors.New("-timeout must be positive, -retry not negative")
	}
	o.addr = rest[0]
	switch {
	case o.list:
		o.method = "rpcudp.methods"
	case o.watch == "":
		o.method, o.args = rest[1], rest[2:]
	}
	return o, nil
}

// checkModes checks that the flags of -list, -watch and -namespace/-version
// go together, with nargs positional arguments.
func checkModes(o options, nargs int) error {
	named := o.target != service.Target{}
	switch {
	case o.watch != "" && (o.list || named):
		return errors.New("-watch takes neither -list nor -namespace/-version")
	case o.watch != "" && nargs != 1:
		return errors.New("-watch takes HOST:PORT alone")
	case o.watch == "" && o.watchD != 0:
		return errors.New("-for goes with -watch")
	case o.watchD < 0:
		return errors.New("-for must not be negative")
	case o.list && named:
		return errors.New("-list takes no -namespace/-version")
	}
	return nil
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

// listenAddr is -listen, or any address of the server's family.
func listenAddr(listen string, to netip.AddrPort) string {
	switch {
	case listen != "":
		return listen
	case to.Addr().Unmap().Is4():
		return "0.0.0.0:0"
	}
	return "[::]:0"
}
