//go:build !unix

package sink

import "os"

// pollable: write deadlines on stdout are a Unix feature here.
func pollable(*os.File) (*os.File, func(), bool) { return nil, nil, false }
