package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rawClient is a lean HTTP/1.1 client on one keep-alive connection, for
// the load's clients: it writes each request in one call and reads the
// answer's status and body with no goroutine of its own, so the load
// generator takes little of the CPU the server under test shares with it
// (as an external tool such as wrk would). net/http's client costs about
// three times as much per request.
type rawClient struct {
	addr string // host:port
	conn net.Conn
	br   *bufio.Reader
	buf  []byte // the request being written
}

// errStatus is an answer's status other than the one wanted.
type errStatus struct {
	status int
	line   string
	body   string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("POST /api/jobs answered %s: %.200s", e.line, e.body)
}

// post sends body to path as JSON and reads the answer; it returns an
// *errStatus when the status is not want. A broken connection is
// reopened at the next call.
func (c *rawClient) post(path string, body []byte, want int) error {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
		if err != nil {
			return err
		}
		c.conn = conn
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 4096)
		} else {
			c.br.Reset(conn)
		}
	}
	c.buf = append(c.buf[:0], "POST "...)
	c.buf = append(c.buf, path...)
	c.buf = append(c.buf, " HTTP/1.1\r\nHost: "...)
	c.buf = append(c.buf, c.addr...)
	c.buf = append(c.buf, "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: "...)
	c.buf = strconv.AppendInt(c.buf, int64(len(body)), 10)
	c.buf = append(c.buf, "\r\n\r\n"...)
	c.buf = append(c.buf, body...)
	if _, err := c.conn.Write(c.buf); err != nil {
		c.close()
		return err
	}
	status, line, errBody, err := c.readAnswer(want)
	if err != nil {
		c.close()
		return err
	}
	if status != want {
		return &errStatus{status: status, line: line, body: errBody}
	}
	return nil
}

// readAnswer reads one answer: its status, its status line, and, when
// the status is not want, its body (else the body is skipped).
func (c *rawClient) readAnswer(want int) (status int, statusLine, body string, err error) {
	line, err := c.line()
	if err != nil {
		return 0, "", "", err
	}
	// "HTTP/1.1 201 Created"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, "", "", fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, "", "", fmt.Errorf("bad status line %q", line)
	}
	statusLine = string(line[9:])
	length, chunked, closing := int64(-1), false, false
	for {
		h, err := c.line()
		if err != nil {
			return 0, "", "", err
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				return 0, "", "", fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	var sink io.Writer = io.Discard
	var kept bytes.Buffer
	if status != want {
		sink = &kept
	}
	switch {
	case chunked:
		err = c.chunks(sink)
	case length >= 0:
		_, err = io.CopyN(sink, c.br, length)
	default:
		return 0, "", "", errors.New("an answer without Content-Length or chunks")
	}
	if err != nil {
		return 0, "", "", err
	}
	if closing {
		c.close()
	}
	return status, statusLine, kept.String(), nil
}

// chunks copies a chunked body to w.
func (c *rawClient) chunks(w io.Writer) error {
	for {
		line, err := c.line()
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the empty line
				t, err := c.line()
				if err != nil || len(t) == 0 {
					return err
				}
			}
		}
		if _, err := io.CopyN(w, c.br, n); err != nil {
			return err
		}
		if _, err := c.line(); err != nil {
			return err
		}
	}
}

// line reads one line without its CRLF. It is valid until the next read.
func (c *rawClient) line() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("a header line longer than 4 KB")
		}
		return nil, err
	}
	return bytes.TrimRight(l, "\r\n"), nil
}

// close closes the connection, to be reopened by the next post.
func (c *rawClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
