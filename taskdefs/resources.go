package taskdefs

import (
	"fmt"
	"slices"
	"strings"
)

// fargateSizes are the task cpu values Fargate accepts, each with its
// memory range in MiB and step.
var fargateSizes = []struct{ cpu, minMem, maxMem, step int64 }{
	{256, 512, 2048, 0}, // 512, 1024, 2048
	{512, 1024, 4096, 1024},
	{1024, 2048, 8192, 1024},
	{2048, 4096, 16384, 1024},
	{4096, 8192, 30720, 1024},
	{8192, 16384, 61440, 4096},
	{16384, 32768, 122880, 8192},
}

// fargateMemories lists the memory values Fargate accepts with a cpu.
func fargateMemories(i int) []int64 {
	s := fargateSizes[i]
	if s.step == 0 {
		return []int64{512, 1024, 2048}
	}
	var ms []int64
	for m := s.minMem; m <= s.maxMem; m += s.step {
		ms = append(ms, m)
	}
	return ms
}

// smallestFargateSize returns the smallest valid Fargate cpu and memory
// with at least cpu units and mem MiB, or ok false when none is that big.
func smallestFargateSize(cpu, mem int64) (int64, int64, bool) {
	for i, s := range fargateSizes {
		if s.cpu < cpu {
			continue
		}
		for _, m := range fargateMemories(i) {
			if m >= mem {
				return s.cpu, m, true
			}
		}
	}
	return 0, 0, false
}

// isFargateSize reports whether cpu and memory form a valid Fargate size.
func isFargateSize(cpu, mem int64) bool {
	i := slices.IndexFunc(fargateSizes, func(s struct{ cpu, minMem, maxMem, step int64 }) bool { return s.cpu == cpu })
	return i >= 0 && slices.Contains(fargateMemories(i), mem)
}

func isFargate(def *Object) bool {
	return slices.Contains(def.Array("requiresCompatibilities"), any("FARGATE"))
}

// resourceProblem is one dimension a task cannot hold its containers in.
type resourceProblem struct {
	path, msg string
}

// resourceCheck is the result of checkResources: every dimension that
// fails, and the fixes that would work.
type resourceCheck struct {
	problems []resourceProblem
	fixes    []string
}

func (r resourceCheck) ok() bool { return len(r.problems) == 0 }

// Error reports every failing dimension at once, then the fixes.
func (r resourceCheck) Error() string {
	var parts []string
	for _, p := range r.problems {
		parts = append(parts, p.path+": "+p.msg)
	}
	s := strings.Join(parts, "; ")
	if len(r.fixes) > 0 {
		s += ". Fix: " + strings.Join(r.fixes, "; or ")
	}
	return s
}

// checkResources checks that the task's memory and cpu hold its
// containers, as ECS does at registration: the containers' memory
// reservations (memoryReservation, else memory) and cpu must sum to at
// most the task's, and no container's memory hard limit may exceed the
// task's memory.
func checkResources(def *Object) resourceCheck {
	var r resourceCheck
	cs := containers(def)
	var taskMem, taskCPU, sumMem, sumCPU int64
	var memTerms, cpuTerms []string
	for _, c := range cs {
		n := reservation(c)
		sumMem += n
		memTerms = append(memTerms, fmt.Sprintf("%d (%s)", n, c.String("name")))
		cpu, _ := c.Int("cpu")
		sumCPU += cpu
		cpuTerms = append(cpuTerms, fmt.Sprintf("%d (%s)", cpu, c.String("name")))
	}
	var err error
	if s := def.String("memory"); s != "" {
		if taskMem, err = parseMemory(s); err != nil {
			r.problems = append(r.problems, resourceProblem{"memory", err.Error()})
			return r
		}
		if sumMem > taskMem {
			r.problems = append(r.problems, resourceProblem{"memory", fmt.Sprintf("task memory %d MiB is below the containers' reservations %s = %d MiB", taskMem, strings.Join(memTerms, " + "), sumMem)})
		}
		for i, c := range cs {
			if hard, ok := c.Int("memory"); ok && hard > taskMem {
				r.problems = append(r.problems, resourceProblem{fmt.Sprintf("containerDefinitions[%d].memory", i), fmt.Sprintf("%d MiB exceeds the task's memory %d MiB", hard, taskMem)})
			}
		}
	}
	if s := def.String("cpu"); s != "" {
		if taskCPU, err = parseCPU(s); err != nil {
			r.problems = append(r.problems, resourceProblem{"cpu", err.Error()})
			return r
		}
		if sumCPU > taskCPU {
			r.problems = append(r.problems, resourceProblem{"cpu", fmt.Sprintf("task cpu %d units is below the containers' cpu %s = %d units", taskCPU, strings.Join(cpuTerms, " + "), sumCPU)})
		}
	}
	if r.ok() {
		return r
	}
	// The common case: an app whose hard limit equals the task's memory
	// counts in full, though it could share: a reservation below it
	// leaves room for the sidecar and the log_router and keeps the limit.
	if sumMem > taskMem && taskMem > 0 {
		over := sumMem - taskMem
		for i, c := range cs {
			hard, hasHard := c.Int("memory")
			if _, hasRes := c.Get("memoryReservation"); hasRes || !hasHard || hard-over < 6 {
				continue
			}
			r.fixes = append(r.fixes, fmt.Sprintf("give %s (containerDefinitions[%d]) a memoryReservation of at most %d MiB: its hard limit memory %d counts in full until it has one, and stays its limit", c.String("name"), i, hard-over, hard))
			break
		}
	}
	needMem, needCPU := max(taskMem, sumMem), max(taskCPU, sumCPU)
	for _, c := range cs {
		if hard, ok := c.Int("memory"); ok {
			needMem = max(needMem, hard)
		}
	}
	if isFargate(def) {
		if cpu, mem, ok := smallestFargateSize(needCPU, needMem); ok {
			r.fixes = append(r.fixes, fmt.Sprintf("raise the task to the smallest Fargate size that fits: cpu %q with memory %q", fmt.Sprint(cpu), fmt.Sprint(mem)))
		} else {
			r.fixes = append(r.fixes, "no Fargate size holds these containers: lower their reservations")
		}
	} else {
		var dims []string
		if sumMem > taskMem && taskMem > 0 {
			dims = append(dims, fmt.Sprintf("memory to at least %d", needMem))
		}
		if sumCPU > taskCPU && taskCPU > 0 {
			dims = append(dims, fmt.Sprintf("cpu to at least %d", needCPU))
		}
		if len(dims) > 0 {
			r.fixes = append(r.fixes, "raise the task's "+strings.Join(dims, " and "))
		}
	}
	return r
}
