package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// The control socket speaks JSON lines: one request object per line, one
// response object per line, many per connection.
//
//	{"op":"ps"}                                 -> {"processes":[...],"formation":{...}}
//	{"op":"formation"}                          -> {"formation":{"web":1,"worker":2}}
//	{"op":"scale","type":"worker","count":3}    -> {"formation":{...}}
//
// A failed request gets {"error":"..."}.
type controlRequest struct {
	Op    string `json:"op"`
	Type  string `json:"type,omitempty"`
	Count int    `json:"count,omitempty"`
}

type controlResponse struct {
	Error     string         `json:"error,omitempty"`
	Processes []Process      `json:"processes,omitempty"`
	Formation map[string]int `json:"formation,omitempty"`
}

// controller is what the control socket serves; *Supervisor implements it.
type controller interface {
	Processes() ([]Process, error)
	Formation() (map[string]int, error)
	Scale(processType string, n int) error
}

var _ controller = (*Supervisor)(nil)

// controlServer serves the control socket of one Run.
type controlServer struct {
	ln   *net.UnixListener
	path string
	info os.FileInfo // of the socket file we made, to remove only ours
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// listenControl listens on the Unix socket at path. A stale socket file is
// replaced; one held by a live supervisor is taken over (tookOver), so a
// nested `boiler start` in the same directory is the one `boiler ps`
// reaches. The previous owner keeps serving its open connections and does
// not remove the file when it stops.
func listenControl(path string) (_ *controlServer, tookOver bool, _ error) {
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			tookOver = true
		}
		if err := os.Remove(path); err != nil {
			return nil, false, fmt.Errorf("removing the old control socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, false, fmt.Errorf("listening on the control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	info, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, false, fmt.Errorf("control socket: %w", err)
	}
	return &controlServer{ln: ln, path: path, info: info, conns: make(map[net.Conn]bool)}, tookOver, nil
}

func (c *controlServer) serve(h controller) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := c.ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				conn.Close()
				return
			}
			c.conns[conn] = true
			c.wg.Add(1)
			c.mu.Unlock()
			go func() {
				defer c.wg.Done()
				c.handle(conn, h)
				c.mu.Lock()
				delete(c.conns, conn)
				c.mu.Unlock()
			}()
		}
	}()
}

func (c *controlServer) handle(conn net.Conn, h controller) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	enc := json.NewEncoder(conn)
	for sc.Scan() {
		var req controlRequest
		var resp controlResponse
		var err error
		if err = json.Unmarshal(sc.Bytes(), &req); err != nil {
			err = fmt.Errorf("bad request: %w", err)
		} else {
			switch req.Op {
			case "ps":
				if resp.Processes, err = h.Processes(); err == nil {
					resp.Formation, err = h.Formation()
				}
			case "formation":
				resp.Formation, err = h.Formation()
			case "scale":
				if err = h.Scale(req.Type, req.Count); err == nil {
					resp.Formation, err = h.Formation()
				}
			default:
				err = fmt.Errorf("unknown op %q (want ps, formation or scale)", req.Op)
			}
		}
		if err != nil {
			resp = controlResponse{Error: err.Error()}
		}
		if enc.Encode(resp) != nil {
			return
		}
	}
}

// close stops serving, ends open connections, and removes the socket file
// if it is still the one this server made.
func (c *controlServer) close() {
	c.mu.Lock()
	c.closed = true
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.ln.Close()
	c.wg.Wait()
	if info, err := os.Lstat(c.path); err == nil && os.SameFile(info, c.info) {
		os.Remove(c.path)
	}
}

// Client talks to a running supervisor over its control socket.
type Client struct {
	conn net.Conn
	rd   *bufio.Reader
}

// Dial connects to the control socket at path.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connecting to boiler start's control socket %s (is boiler start running here? set BOILER_SOCKET to its socket): %w", path, err)
	}
	return &Client{conn: conn, rd: bufio.NewReader(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) do(ctx context.Context, req controlRequest) (*controlResponse, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("sending %s: %w", req.Op, err)
	}
	line, err := c.rd.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s: %w", req.Op, err)
	}
	var resp controlResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("decoding the answer to %s: %w", req.Op, err)
	}
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	return &resp, nil
}

// Processes lists the supervisor's processes and its formation.
func (c *Client) Processes(ctx context.Context) ([]Process, map[string]int, error) {
	resp, err := c.do(ctx, controlRequest{Op: "ps"})
	if err != nil {
		return nil, nil, err
	}
	return resp.Processes, resp.Formation, nil
}

// Formation returns the supervisor's formation.
func (c *Client) Formation(ctx context.Context) (map[string]int, error) {
	resp, err := c.do(ctx, controlRequest{Op: "formation"})
	if err != nil {
		return nil, err
	}
	return resp.Formation, nil
}

// Scale sets the number of instances of processType and returns the new
// formation.
func (c *Client) Scale(ctx context.Context, processType string, n int) (map[string]int, error) {
	resp, err := c.do(ctx, controlRequest{Op: "scale", Type: processType, Count: n})
	if err != nil {
		return nil, err
	}
	return resp.Formation, nil
}
