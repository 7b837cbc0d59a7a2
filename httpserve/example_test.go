package httpserve_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/doubleboiler/boiler/httpserve"
)

// A web process: a deadline below the platform router's, a graceful
// shutdown when ctx ends. A real app derives ctx from
// signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt) and sets Addr
// to ":" + os.Getenv("PORT").
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, shutdown := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- httpserve.Run(ctx, &httpserve.Options{
			Listener:       ln,
			Handler:        mux,
			RequestTimeout: 10 * time.Second,
		})
	}()

	resp, err := http.Get("http://" + ln.Addr().String() + "/hello")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))

	shutdown() // SIGTERM
	fmt.Println("shutdown:", <-done)
	// Output:
	// hello
	// shutdown: <nil>
}

// Timeout on its own, for a server built by hand.
func ExampleTimeout() {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the deadline
		case <-time.After(time.Minute):
		}
	})
	srv := &http.Server{Handler: httpserve.Timeout(slow, 25*time.Second, nil)}
	_ = srv
}
