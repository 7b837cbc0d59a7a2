package postgres

import "strings"

// statements are the store's SQL texts with the schema filled in, built
// once per store.
type statements struct {
	columns string // the job columns, qualified by the alias j

	// insert[unique][workflow]: see insertSQL and insertStmt.
	insert                                            [2][2]string
	uniqueHolder, releaseHolder                       string
	fetch, setState, heartbeat, rescue                string
	get, cancel, retry, delete, deleteFinalized       string
	pause, resume, stats                              string
	getMany, compactCounts                            string
	lockDeps, setWaiting, addDeps, notify, finishDeps string
}

// asyncCommit, joined to a statement's rows, makes its transaction commit
// without waiting for the disk (see Options.SynchronousAcks). set_config
// with is_local true lasts until the end of the statement's implicit
// transaction, so its commit. When the statement finds no row, the set_config
// may not run; nothing was written then, and nothing waits.
const asyncCommit = "CROSS JOIN LATERAL set_config('synchronous_commit', 'off', true) AS async_commit"

// newStatements fills the templates for the schema quoted (an already
// quoted identifier). Unless synchronousAcks, fetches and outcomes commit
// asynchronously.
func newStatements(quoted string, synchronousAcks bool) statements {
	columns := jobColumns("j")
	async := asyncCommit
	if synchronousAcks {
		async = ""
	}
	r := strings.NewReplacer("{schema}", quoted, "{columns}", columns, "{changed}", jobColumns("c"), "{async}", async)
	fill := func(tmpl, conflict string) string {
		return r.Replace(strings.ReplaceAll(tmpl, "{conflict}", conflict))
	}
	return statements{
		columns: columns,
		insert: [2][2]string{
			{fill(insertWorkflowSQL(insertSQL, false), ""), fill(insertWorkflowSQL(insertSQL, true), "")},
			{fill(insertWorkflowSQL(insertSQL, false), onConflictSkip), fill(insertWorkflowSQL(insertSQL, true), onConflictSkip)},
		},
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
		getMany:         fill(getManySQL, ""),
		compactCounts:   fill(compactCountsSQL, ""),
		lockDeps:        fill(lockDepsSQL, ""),
		setWaiting:      fill(setWaitingSQL, ""),
		addDeps:         fill(addDepsSQL, ""),
		notify:          fill(notifySQL, ""),
		finishDeps:      fill(finishDepsSQL, ""),
	}
}

// insertStmt is the insert statement for jobs with unique keys or not, and
// with workflow columns or not.
func (st *statements) insertStmt(unique, workflow bool) string {
	return st.insert[b2i(unique)][b2i(workflow)]
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
