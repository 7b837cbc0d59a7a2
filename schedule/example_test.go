package schedule_test

import (
	"fmt"
	"time"

	"github.com/doubleboiler/boiler/schedule"
)

func ExampleParse() {
	s, err := schedule.Parse("@every 10m")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Next(time.Date(2026, 11, 22, 10, 7, 0, 0, time.UTC)))
	_, err = schedule.Parse("61 * * * *")
	fmt.Println(err != nil)
	// Output:
	// 2026-11-22 10:10:00 +0000 UTC
	// true
}
