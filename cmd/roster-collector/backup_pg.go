package main

import (
	"context"
	"errors"
	"io"
)

func verifyPGDumpCmd(ctx context.Context, dump, scratchDSN, keyFile string, c checkFlags, stdout, stderr io.Writer) error {
	return errors.New("not yet")
}
