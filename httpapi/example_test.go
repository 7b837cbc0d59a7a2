package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/httpserve"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// Serve the JSON API with httpserve, then enqueue a job over HTTP as a
// program in any language would: with the bearer token, and no CSRF token.
func Example() {
	dir, _ := os.MkdirTemp("", "boiler-example")
	defer os.RemoveAll(dir)
	s, err := sqlite.Open(filepath.Join(dir, "boiler.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		log.Fatal(err)
	}
	client, _ := boiler.NewClient(s, nil)
	api, err := httpapi.New(&httpapi.Options{
		Client: client,
		Token:  "t0ken",                      // BOILER_API_TOKEN
		Secret: []byte("from BOILER_SECRET"), // keys the dashboard's CSRF tokens
	})
	if err != nil {
		log.Fatal(err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, shutdown := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpserve.Run(ctx, &httpserve.Options{Listener: ln, Handler: api}) }()

	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/api/jobs",
		strings.NewReader(`{"kind":"email","args":{"to":"ada@example.com"},"queue":"mail"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)

	shutdown()
	fmt.Println("shutdown:", <-done)
	// Output:
	// 201 Created
	// shutdown: <nil>
}
