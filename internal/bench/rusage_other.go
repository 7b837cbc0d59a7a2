//go:build !unix

package bench

// maxRSS is unknown on this system.
func maxRSS() int64 { return 0 }
