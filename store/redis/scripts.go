package redis

import (
	"embed"
	"fmt"

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
	insert, fetch, setState, heartbeat, rescue *goredis.Script
	cancel, retry, delete, deleteFinalized     *goredis.Script
	list, stats                                *goredis.Script
}

func newScripts() *scripts {
	return &scripts{
		insert:          loadScript("insert"),
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
	}
}

// loadScript returns lua/<name>.lua with lua/lib.lua in front. The files
// are embedded, so a missing one is a build mistake: it panics.
func loadScript(name string) *goredis.Script {
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		panic(fmt.Sprintf("redis store: embedded lua/lib.lua: %v", err))
	}
	body, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(fmt.Sprintf("redis store: embedded lua/%s.lua: %v", name, err))
	}
	return goredis.NewScript(string(lib) + "\n" + string(body))
}
