package memguard

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseBytes parses a memory size as the --memory-limit flag takes it: a
// number of bytes ("536870912"), or a number and a unit, K, M, G or T, in
// any case and with an optional B or iB ("512MB", "512m", "1.5GiB"). The
// units are powers of 1024 whatever their spelling, as Heroku's "512 MB"
// dynos and Docker's "512m" mean them.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' })
	unit := strings.ToLower(strings.TrimSpace(t[len(num):]))
	num = strings.TrimSpace(num)
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	shift, ok := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit]
	if !ok || (unit == "" && strings.HasSuffix(strings.ToLower(t), "ib")) {
		return 0, fmt.Errorf("memory size %q: unknown unit (want a number of bytes, or K, M, G, T: 512MB, 1.5G)", s)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("memory size %q: want a positive number and a unit, such as 512MB", s)
	}
	b := n * float64(int64(1)<<shift)
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("memory size %q: too large", s)
	}
	return int64(b), nil
}
