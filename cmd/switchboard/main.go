// Command switchboard is the gateway binary: `switchboard serve` runs it,
// `switchboard keys` manages client keys, `switchboard version` prints the
// build. Wiring only: config → stores → services → HTTP server.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

// rootCmd is the command tree: serve, the database-side keys commands, and
// the admin-API commands (keys with --url, channels, usage, prices).
func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "switchboard",
		Short:         "One base URL and one API key in front of every model provider",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), keysCmd(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "switchboard", version) },
	})
	root.AddCommand(channelsCmd(), usageCmd(), pricesCmd(), tasksCmd())
	return root
}
