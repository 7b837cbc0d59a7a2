//go:build !unix

package bench

import "time"

// maxRSS is unknown on this system.
func maxRSS() int64 { return 0 }

// cpuTime is unknown on this system.
func cpuTime() time.Duration { return 0 }
