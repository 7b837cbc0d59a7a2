package postgres

import "strings"

// statements are the store's SQL texts with the schema filled in, built
// once per store.
type statements struct {
	columns string // the job columns, qualified by the alias j

	insert, insertUnique, uniqueHolder, releaseHolder string
	fetch, setState, heartbeat, rescue                string
	get, cancel, retry, delete, deleteFinalized       string
	pause, resume, stats                              string
}

// newStatements fills the templates for the schema quoted (an already
// quoted identifier).
func newStatements(quoted string) statements {
	columns := jobColumns("j")
	r := strings.NewReplacer("{schema}", quoted, "{columns}", columns)
	fill := func(tmpl, conflict string) string {
		return r.Replace(strings.ReplaceAll(tmpl, "{conflict}", conflict))
	}
	return statements{
		columns:         columns,
		insert:          fill(insertSQL, ""),
		insertUnique:    fill(insertSQL, onConflictSkip),
		uniqueHolder:    fill(uniqueHolderSQL, ""),
		releaseHolder:   fill(releaseHolderSQL, ""),
		fetch:           fill(fetchSQL, ""),
		setState:        fill(setStateSQL, ""),
		heartbeat:       fill(heartbeatSQL, ""),
		rescue:          fill(rescueSQL, ""),
		get:             fill(getSQL, ""),
		cancel:          fill(cancelSQL, ""),
		retry:           fill(retrySQL, ""),
		delete:          fill(deleteSQL, ""),
		deleteFinalized: fill(deleteFinalizedSQL, ""),
		pause:           fill(pauseSQL, ""),
		resume:          fill(resumeSQL, ""),
		stats:           fill(statsSQL, ""),
	}
}
