package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseScaleArgs(t *testing.T) {
	t.Parallel()
	got, err := parseScaleArgs([]string{"worker=3", "web=0"})
	if err != nil || !reflect.DeepEqual(got, []scaleArg{{"worker", 3}, {"web", 0}}) {
		t.Fatalf("parseScaleArgs = %v, %v", got, err)
	}
	for _, bad := range []string{"worker", "worker=-1", "=2", "worker=x"} {
		if _, err := parseScaleArgs([]string{bad}); err == nil || !strings.Contains(err.Error(), "TYPE=COUNT") {
			t.Errorf("parseScaleArgs(%q) = %v", bad, err)
		}
	}
}
