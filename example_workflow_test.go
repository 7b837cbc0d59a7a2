package boiler_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"strings"

	"github.com/doubleboiler/boiler"
)

// WordCountArgs count the words of a text: a chord's member.
type WordCountArgs struct {
	Text string `json:"text"`
}

// Kind names the job's handler.
func (WordCountArgs) Kind() string { return "word_count" }

// TotalArgs add up the counts of the jobs it waited for: a chord's
// callback.
type TotalArgs struct {
	Label string `json:"label"`
}

// Kind names the job's handler.
func (TotalArgs) Kind() string { return "total" }

// A chord: a group of jobs that return results, and a callback that runs
// once, after every member completed, and reads their results. The jobs
// are inserted in one atomic call, tagged with the workflow's ID.
func ExampleChord() {
	ctx := context.Background()
	s, cleanup := openExampleStore()
	defer cleanup()

	done := make(chan struct{})
	reg := boiler.NewRegistry()
	boiler.HandleResult(reg, func(ctx context.Context, job *boiler.Job[WordCountArgs]) (int, error) {
		return len(strings.Fields(job.Args.Text)), nil
	})
	boiler.Handle(reg, func(ctx context.Context, job *boiler.Job[TotalArgs]) error {
		defer close(done)
		deps, err := boiler.DepResults(ctx)
		if err != nil {
			return err
		}
		total := 0
		for _, d := range deps {
			var n int
			if err := d.Decode(&n); err != nil {
				return err
			}
			total += n
		}
		fmt.Printf("%s: %d words in %d texts\n", job.Args.Label, total, len(deps))
		return boiler.RecordResult(ctx, total)
	})

	client, err := boiler.NewClient(s, nil)
	if err != nil {
		log.Fatal(err)
	}
	wf, err := client.EnqueueWorkflow(ctx, boiler.Chord(
		boiler.Group(
			boiler.Task(WordCountArgs{Text: "the quick brown fox"}, nil),
			boiler.Task(WordCountArgs{Text: "jumps over"}, nil),
			boiler.Task(WordCountArgs{Text: "the lazy dog"}, nil),
		),
		boiler.Task(TotalArgs{Label: "pangram"}, nil),
	))
	if err != nil {
		log.Fatal(err)
	}
	callback := wf.Jobs[len(wf.Jobs)-1]
	fmt.Println(len(wf.Jobs), "jobs; the callback is", callback.State)

	worker, err := boiler.NewWorker(s, reg, &boiler.WorkerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	if err := worker.Start(ctx); err != nil {
		log.Fatal(err)
	}
	<-done
	if err := worker.Stop(ctx); err != nil {
		log.Fatal(err)
	}
	st, err := client.WorkflowGet(ctx, wf.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("workflow", st.State, "result", string(st.Jobs[len(st.Jobs)-1].Result))
	// Output:
	// 4 jobs; the callback is waiting
	// pangram: 9 words in 3 texts
	// workflow completed result 9
}

// Chunks splits a long list into jobs of n items each; in a chord, a
// callback runs after every chunk.
func ExampleChunks() {
	ids := []int{1, 2, 3, 4, 5, 6, 7}
	step := boiler.Chord(
		boiler.Chunks(ids, 3, func(chunk []int) ResizeArgs { return ResizeArgs{ImageIDs: chunk} }, nil),
		boiler.Task(TotalArgs{Label: "resized"}, nil),
	)
	client := boiler.NewInlineClient(exampleResizeRegistry(), nil)
	wf, err := client.EnqueueWorkflow(context.Background(), step)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(wf.Jobs), "jobs")
	// Output:
	// resizing [1 2 3]
	// resizing [4 5 6]
	// resizing [7]
	// resized: 7 images in 3 chunks
	// 4 jobs
}

// ResizeArgs resize images: one chunk of a Chunks step.
type ResizeArgs struct {
	ImageIDs []int `json:"image_ids"`
}

// Kind names the job's handler.
func (ResizeArgs) Kind() string { return "resize" }

func exampleResizeRegistry() *boiler.Registry {
	reg := boiler.NewRegistry()
	boiler.HandleResult(reg, func(_ context.Context, job *boiler.Job[ResizeArgs]) (int, error) {
		fmt.Println("resizing", job.Args.ImageIDs)
		return len(job.Args.ImageIDs), nil
	})
	boiler.Handle(reg, func(ctx context.Context, job *boiler.Job[TotalArgs]) error {
		deps, err := boiler.DepResults(ctx)
		if err != nil {
			return err
		}
		total := 0
		for _, d := range deps {
			var n int
			if err := d.Decode(&n); err != nil {
				return err
			}
			total += n
		}
		fmt.Printf("%s: %d images in %d chunks\n", job.Args.Label, total, len(deps))
		return nil
	})
	return reg
}
