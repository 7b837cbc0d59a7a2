package redis

import (
	"embed"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// The Lua scripts, one per state change (see lua/lib.lua for the shared
// key layout). Each runs atomically in Redis; go-redis sends it by its SHA
// (EVALSHA) and loads it once when the server does not know it yet.
//
//go:embed lua/*.lua
var luaFS embed.FS

// scripts holds the compiled scripts of a Store.
type scripts struct {
	insert, fetch, setState, heartbeat, rescue    *goredis.Script
	cancel, retry, delete, deleteFinalized        *goredis.Script
	list, stats                                   *goredis.Script
	workerDelete, leaderElect, leaderResign       *goredis.Script
	periodicUpsert, periodicFire, periodicSetNext *goredis.Script
}

func newScripts() *scripts {
	return &scripts{
		insert:          loadScript("insert", "insertjobs"),
		fetch:           loadScript("fetch"),
		setState:        loadScript("setstate"),
		heartbeat:       loadScript("heartbeat"),
		rescue:          loadScript("rescue"),
		cancel:          loadScript("cancel"),
		retry:           loadScript("retry"),
		delete:          loadScript("delete"),
		deleteFinalized: loadScript("deletefinalized"),
		list:            loadScript("list"),
		stats:           loadScript("stats"),
		workerDelete:    loadScript("workerdelete"),
		leaderElect:     loadScript("leaderelect"),
		leaderResign:    loadScript("leaderresign"),
		periodicUpsert:  loadScript("periodicupsert"),
		periodicFire:    loadScript("periodicfire", "insertjobs"),
		periodicSetNext: loadScript("periodicsetnext"),
	}
}

// loadScript returns lua/<name>.lua with lua/lib.lua and then the
// libraries libs (lua/<lib>.lua each) in front. The files are embedded, so
// a missing one is a build mistake: it panics.
func loadScript(name string, libs ...string) *goredis.Script {
	var src strings.Builder
	for _, part := range append(append([]string{"lib"}, libs...), name) {
		b, err := luaFS.ReadFile("lua/" + part + ".lua")
		if err != nil {
			panic(fmt.Sprintf("redis store: embedded lua/%s.lua: %v", part, err))
		}
		src.Write(b)
		src.WriteString("\n")
	}
	return goredis.NewScript(src.String())
}
