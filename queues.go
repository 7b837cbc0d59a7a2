package boiler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// maxQueueNameLen bounds a queue name's length.
const maxQueueNameLen = 100

// maxQueueWeight bounds a weight: weights are relative shares, and a
// bound keeps their sum far from overflowing.
const maxQueueWeight = 1000

// QueueWeight is a queue a worker serves and its weight: a queue of weight
// 6 is served first about six times as often as one of weight 1 (see
// [WorkerOptions.Queues]).
type QueueWeight struct {
	// Name is the queue's name.
	Name string
	// Weight is the queue's share, 1 to 1000; zero means 1. Ignored with
	// WorkerOptions.StrictOrder.
	Weight int
}

// ParseQueues parses a queue list as written on a command line or in an
// environment variable: "high=6,default=3,low=1" (weights) or
// "high,default,low" (each of weight 1; with StrictOrder, the order in which
// they are served). Spaces around names and weights are ignored.
func ParseQueues(s string) ([]QueueWeight, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("parsing queues: the list is empty")
	}
	parts := strings.Split(s, ",")
	queues := make([]QueueWeight, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for i, part := range parts {
		name, weight, hasWeight := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		q := QueueWeight{Name: name, Weight: 1}
		if name == "" {
			return nil, fmt.Errorf("parsing queues %q: entry %d has no queue name", s, i+1)
		}
		if err := validateQueueName(name); err != nil {
			return nil, fmt.Errorf("parsing queues %q: entry %d: %w", s, i+1, err)
		}
		if hasWeight {
			w, err := strconv.Atoi(strings.TrimSpace(weight))
			if err != nil || w < 1 || w > maxQueueWeight {
				return nil, fmt.Errorf("parsing queues %q: queue %q: weight %q is not an integer from 1 to %d", s, name, strings.TrimSpace(weight), maxQueueWeight)
			}
			q.Weight = w
		}
		if seen[name] {
			return nil, fmt.Errorf("parsing queues %q: queue %q is listed twice", s, name)
		}
		seen[name] = true
		queues = append(queues, q)
	}
	return queues, nil
}

// validateQueueName checks that name is 1 to 100 letters, digits, '_', '-'
// or '.'.
func validateQueueName(name string) error {
	if name == "" {
		return errors.New("queue name is empty")
	}
	if len(name) > maxQueueNameLen {
		return fmt.Errorf("queue name %.20q... is %d characters long, more than %d", name, len(name), maxQueueNameLen)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("queue name %q has the character %q: use letters, digits, '_', '-' and '.'", name, c)
		}
	}
	return nil
}

// queueOrder gives the order in which one fetch serves the worker's queues.
// It is owned by the fetch loop (not safe for concurrent use).
type queueOrder struct {
	queues []QueueWeight
	strict bool
	rng    *rand.Rand
	names  []string // reused between calls
	pool   []QueueWeight
}

func newQueueOrder(queues []QueueWeight, strict bool, rng *rand.Rand) *queueOrder {
	o := &queueOrder{queues: queues, strict: strict, rng: rng, names: make([]string, len(queues))}
	for i, q := range queues {
		o.names[i] = q.Name
	}
	return o
}

// next returns the queue names in strict order, or as a weighted random
// permutation: the first queue is drawn with probability weight/total,
// the next among the rest the same way, and so on (as Sidekiq and Asynq
// do). The result is only valid until the next call.
func (o *queueOrder) next() []string {
	if o.strict || len(o.queues) == 1 {
		return o.names
	}
	o.pool = append(o.pool[:0], o.queues...)
	total := 0
	for _, q := range o.pool {
		total += q.Weight
	}
	for i := range o.names {
		r := o.rng.IntN(total)
		j := 0
		for r >= o.pool[j].Weight {
			r -= o.pool[j].Weight
			j++
		}
		o.names[i] = o.pool[j].Name
		total -= o.pool[j].Weight
		o.pool = append(o.pool[:j], o.pool[j+1:]...)
	}
	return o.names
}
