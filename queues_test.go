package boiler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestParseQueues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []QueueWeight
	}{
		{"default", []QueueWeight{{"default", 1}}},
		{"high=6,default=3,low=1", []QueueWeight{{"high", 6}, {"default", 3}, {"low", 1}}},
		{"high,default,low", []QueueWeight{{"high", 1}, {"default", 1}, {"low", 1}}},
		{" high = 6 , low ", []QueueWeight{{"high", 6}, {"low", 1}}},
		{"a.b-c_D9=10", []QueueWeight{{"a.b-c_D9", 10}}},
	}
	for _, tt := range tests {
		got, err := ParseQueues(tt.in)
		if err != nil {
			t.Errorf("ParseQueues(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseQueues(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseQueuesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, wantErr string }{
		{"", "the list is empty"},
		{"  ", "the list is empty"},
		{"high,,low", "entry 2 has no queue name"},
		{"high,", "entry 2 has no queue name"},
		{"=3", "entry 1 has no queue name"},
		{"high=x", `queue "high": weight "x" is not an integer from 1 to 1000`},
		{"high=0", `queue "high": weight "0" is not an integer from 1 to 1000`},
		{"high=-2", `weight "-2" is not an integer`},
		{"high=", `weight "" is not an integer`},
		{"high=1001", `weight "1001" is not an integer from 1 to 1000`},
		{"high,low,high=2", `queue "high" is listed twice`},
		{"my queue", `has the character ' '`},
		{"é", `has the character 'é'`},
		{strings.Repeat("q", 101), "more than 100"},
	}
	for _, tt := range tests {
		_, err := ParseQueues(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseQueues(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
		}
	}
}

// formatQueues is the inverse of ParseQueues.
func formatQueues(qs []QueueWeight) string {
	parts := make([]string, len(qs))
	for i, q := range qs {
		parts[i] = fmt.Sprintf("%s=%d", q.Name, q.Weight)
	}
	return strings.Join(parts, ",")
}

func FuzzParseQueues(f *testing.F) {
	for _, seed := range []string{
		"default", "high=6,default=3,low=1", "high,default,low", " a = 2 ,b", "a,,b", "a=x", "=",
		"a=99999999999999999999", "a=1,a=2", "q.1-_", "a=+3", "a=0x10", "\x00", "a=1=2",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		qs, err := ParseQueues(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(qs) == 0 {
			t.Fatalf("ParseQueues(%q) returned no queues and no error", s)
		}
		seen := map[string]bool{}
		for _, q := range qs {
			if q.Weight < 1 || validateQueueName(q.Name) != nil || seen[q.Name] {
				t.Fatalf("ParseQueues(%q) returned an invalid entry %+v", s, q)
			}
			seen[q.Name] = true
		}
		order := newQueueOrder(qs, false, rand.New(rand.NewPCG(1, 2))).next()
		if len(order) != len(qs) {
			t.Fatalf("weighted order of %v: %v", qs, order)
		}
		again, err := ParseQueues(formatQueues(qs))
		if err != nil || !reflect.DeepEqual(again, qs) {
			t.Fatalf("round trip of %q: %v, %v; want %v", s, again, err, qs)
		}
	})
}

func TestQueueOrderStrict(t *testing.T) {
	t.Parallel()
	qs := []QueueWeight{{"high", 6}, {"default", 3}, {"low", 1}}
	o := newQueueOrder(qs, true, rand.New(rand.NewPCG(1, 2)))
	for range 10 {
		if got := o.next(); !reflect.DeepEqual(got, []string{"high", "default", "low"}) {
			t.Fatalf("strict order = %v", got)
		}
	}
}

// TestQueueOrderWeighted checks the distribution of weighted permutations:
// the first queue is drawn in proportion to the weights, and after it the
// rest in proportion to theirs.
func TestQueueOrderWeighted(t *testing.T) {
	t.Parallel()
	qs := []QueueWeight{{"high", 6}, {"default", 3}, {"low", 1}}
	o := newQueueOrder(qs, false, rand.New(rand.NewPCG(7, 11)))
	const draws = 100_000
	first := map[string]int{}
	perms := map[string]int{}
	for range draws {
		order := o.next()
		if len(order) != 3 {
			t.Fatalf("permutation %v has %d queues", order, len(order))
		}
		seen := map[string]bool{}
		for _, q := range order {
			if seen[q] {
				t.Fatalf("permutation %v repeats %q", order, q)
			}
			seen[q] = true
		}
		first[order[0]]++
		perms[strings.Join(order, ",")]++
	}
	want := map[string]float64{"high": 0.6, "default": 0.3, "low": 0.1}
	for q, p := range want {
		if got := float64(first[q]) / draws; math.Abs(got-p) > 0.01 {
			t.Errorf("queue %q comes first in %.3f of fetches, want %.2f", q, got, p)
		}
	}
	// P(high, low, default) = 0.6 × 1/4; P(low, default, high) = 0.1 × 3/9.
	for perm, p := range map[string]float64{"high,low,default": 0.15, "low,default,high": 0.1 / 3, "high,default,low": 0.45} {
		if got := float64(perms[perm]) / draws; math.Abs(got-p) > 0.01 {
			t.Errorf("order %s drawn in %.3f of fetches, want %.3f", perm, got, p)
		}
	}
}
