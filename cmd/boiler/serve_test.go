package main

import (
	"strings"
	"testing"
)

func TestServeDefaultAddr(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := defaultWebAddr(env(nil)); got != "127.0.0.1:5000" {
		t.Errorf("without PORT: %q, want 127.0.0.1:5000", got)
	}
	if got := defaultWebAddr(env(map[string]string{"PORT": "8123"})); got != ":8123" {
		t.Errorf("with PORT=8123: %q, want :8123", got)
	}
}

func TestServeRefusesAPublicAddressWithoutAuth(t *testing.T) {
	t.Parallel()
	none := webAuth{}
	for _, addr := range []string{"0.0.0.0:5000", ":5000", "[::]:5000", "192.0.2.7:80", "example.com:80"} {
		err := checkListenAddr(addr, none)
		if err == nil {
			t.Errorf("%s without auth: no error", addr)
			continue
		}
		for _, want := range []string{"refusing", addr, "without authentication", "BOILER_DASHBOARD_PASSWORD", "BOILER_API_TOKEN", "127.0.0.1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", addr, err, want)
			}
		}
	}
	for _, addr := range []string{"127.0.0.1:5000", "localhost:5000", "[::1]:5000", "127.0.0.2:1"} {
		if err := checkListenAddr(addr, none); err != nil {
			t.Errorf("%s (loopback) without auth: %v", addr, err)
		}
	}
	for _, auth := range []webAuth{{password: "pw"}, {token: "tok"}} {
		if err := checkListenAddr("0.0.0.0:5000", auth); err != nil {
			t.Errorf("0.0.0.0 with %+v: %v", auth, err)
		}
	}
	if err := checkListenAddr("5000", none); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("a bad address: %v, want an error asking for host:port", err)
	}
}

func TestServeSecret(t *testing.T) {
	t.Parallel()
	a, err := loadWebAuth(func(string) string { return "" })
	if err != nil || !a.randomSecret || len(a.secret) < 32 {
		t.Fatalf("no BOILER_SECRET: %+v, %v; want a random secret of 32+ bytes", a, err)
	}
	b, _ := loadWebAuth(func(string) string { return "" })
	if string(a.secret) == string(b.secret) {
		t.Error("two random secrets are equal")
	}
	env := map[string]string{"BOILER_SECRET": "0123456789abcdef-secret", "BOILER_API_TOKEN": "tok", "BOILER_DASHBOARD_PASSWORD": "pw"}
	c, err := loadWebAuth(func(k string) string { return env[k] })
	if err != nil || c.randomSecret || string(c.secret) != env["BOILER_SECRET"] || c.token != "tok" || c.password != "pw" {
		t.Errorf("from the environment: %+v, %v", c, err)
	}
	if _, err := loadWebAuth(func(k string) string { return map[string]string{"BOILER_SECRET": "short"}[k] }); err == nil || !strings.Contains(err.Error(), "BOILER_SECRET") {
		t.Errorf("a short BOILER_SECRET: %v, want an error naming it", err)
	}
}
