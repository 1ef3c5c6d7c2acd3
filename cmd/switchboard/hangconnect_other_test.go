//go:build !unix

package main

import "testing"

func faultHangingConnectAddr(t *testing.T) string {
	t.Skip("needs a unix listen(2) backlog to make a connect hang")
	return ""
}
