/*
 * Runs a server as its child and adopts every process the server's tree
 * orphans (PR_SET_CHILD_SUBREAPER), reaping them itself. So the CPU time of
 * the whole tree ends up in this process's /proc stat (cutime/cstime), even
 * for servers like sshd whose per-connection processes exit before their
 * children are reaped (those would otherwise go to init, and their CPU would
 * not be counted). It costs nothing while waiting.
 *
 *   tree_reaper COMMAND [ARG…]
 *
 * SIGTERM/SIGINT are passed on to the command; exits with its status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child = 0;

static void forward(int signal_number) {
    if (child > 0) kill(child, signal_number);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tree_reaper COMMAND [ARG...]\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("tree_reaper: prctl");
        return 1;
    }
    struct sigaction action = {.sa_handler = forward};
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    child = fork();
    if (child < 0) {
        perror("tree_reaper: fork");
        return 1;
    }
    if (child == 0) {
        execvp(argv[1], argv + 1);
        perror("tree_reaper: exec");
        _exit(127);
    }
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) return 1;
        if (pid == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
}
