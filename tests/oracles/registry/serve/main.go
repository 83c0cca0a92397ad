// Command serve runs go-containerregistry's registry (the one `crane registry serve` runs) with
// its OCI 1.1 referrers API switched on, which `crane registry serve` leaves off: the tests'
// second registry, so that signature discovery meets both the referrers API and the fallback
// tag of a registry without it (distribution 2.8).
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	address := flag.String("address", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	listener, err := net.Listen("tcp", *address)
	if err != nil {
		log.Fatalln(err)
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	server := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler:           registry.New(registry.WithReferrersSupport(true), registry.Logger(logger)),
	}
	logger.Printf("serving on %s", listener.Addr())
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		server.Close()
	}()
	if err := server.Serve(listener); err != nil && err != http.ErrServerClosed {
		log.Fatalln(err)
	}
}
