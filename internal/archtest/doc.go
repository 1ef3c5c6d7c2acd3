// Package archtest enforces the module layout of DESIGN.md §2 with a test,
// so the layout cannot rot: llm and sse import nothing of ours, gateway
// imports only llm, no format package imports another, only the command
// picks concrete stores, and every package has a doc comment.
package archtest
