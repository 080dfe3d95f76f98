// Command broker runs a one-node kfake Kafka broker as its own process, so
// the chaos driver can pause it (SIGSTOP/SIGCONT) like a real broker that
// stalls. It listens on --listen-port but advertises --advertise-port in its
// metadata, so clients that learn the broker from metadata keep going
// through the chaos proxy in front of it (which can cut them off).
//
// kfake keeps its data in memory (no --data-dir): killing this process
// loses every topic. The chaos driver therefore never kills it; it pauses
// it and makes it unreachable through the proxy instead.
//
//	broker --listen-port 19092 --advertise-port 19093 --topics a,b --partitions 3
//
// Prints one line "ready <listen-addr> advertised <host:port>" on stdout,
// and stops on SIGTERM/SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	listenPort := flag.Int("listen-port", 0, "loopback port the broker accepts connections on (0: any)")
	advertisePort := flag.Int("advertise-port", 0, "port announced in metadata (the proxy's); 0: the listen port")
	topics := flag.String("topics", "", "comma-separated topics to create at start")
	partitions := flag.Int("partitions", 3, "partitions of the created topics")
	flag.Parse()

	var seeded []string
	for _, t := range strings.Split(*topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			seeded = append(seeded, t)
		}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(*listenPort),
		kfake.DefaultNumPartitions(*partitions),
		kfake.AllowAutoTopicCreation(),
		// Let the alert consumer group use short sessions, so a killed
		// member is noticed within seconds.
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(address)
			ln, err := net.Listen(network, net.JoinHostPort("127.0.0.1", p))
			if err != nil || *advertisePort == 0 {
				return ln, err
			}
			return advertised{Listener: ln, addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: *advertisePort}}, nil
		}),
	}
	if len(seeded) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), seeded...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
	adv := c.ListenAddrs()[0]
	fmt.Printf("ready %s advertised %s\n", net.JoinHostPort("127.0.0.1", strconv.Itoa(*listenPort)), adv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	c.Close()
}

// advertised is a listener whose Addr is the proxy's, so kfake announces
// the proxy in metadata while it accepts on its own port.
type advertised struct {
	net.Listener
	addr net.Addr
}

func (a advertised) Addr() net.Addr { return a.addr }
