/*
 * The reference point of the benchmark: the smallest SSH server on the system
 * libssh that does what the DemoServer does in the benchmark, written the way
 * a binding drives libssh: ONE process, one level-triggered epoll set over
 * every socket and pipe (interest changed with epoll_ctl only for the
 * connections an event touched, so the cost of an event does not grow with
 * the connections held), one ssh_event per session (sharing one event among
 * sessions is unsafe in libssh 0.10), ssh_event_dopoll(event, 0) only for a
 * session whose socket is ready, non-blocking everything. No fork per
 * connection, so its CPU and memory per connection compare fairly with a
 * binding's.
 *
 * Features: password auth, exec through `sh -c` (posix_spawn) with stdin and
 * stdout/stderr streamed both ways with back-pressure, exit status (or exit
 * signal) before EOF and close, direct-tcpip (connect first, then accept).
 *
 *   bench_server --host-key FILE [--host ADDR] [--port N] [--password PW]
 *                [--kex LIST] [--ciphers LIST] [--hostkey-algorithms LIST]
 *
 * Prints {"host":…,"port":…} as the first stdout line; runs until SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/epoll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

extern char **environ;

/* Bytes buffered towards a pipe or socket before we stop taking data from
 * libssh (which then stops growing the client's window). */
#define PENDING_CAP (256 * 1024)
#define READ_CHUNK (64 * 1024)

static const char *password = "foo";

struct buffer {
    char *data;
    size_t start, end, capacity;
};

static size_t pending_length(const struct buffer *b) { return b->end - b->start; }

static void pending_append(struct buffer *b, const void *data, size_t length) {
    if (b->start > 0 && b->end + length > b->capacity) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    if (b->end + length > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 16384;
        while (capacity < b->end + length) capacity *= 2;
        b->data = realloc(b->data, capacity);
        if (!b->data) abort();
        b->capacity = capacity;
    }
    memcpy(b->data + b->end, data, length);
    b->end += length;
}

/* Writes what it can to fd; -1 when the other side is gone. */
static int pending_flush(struct buffer *b, int fd) {
    while (pending_length(b) > 0) {
        ssize_t n = write(fd, b->data + b->start, pending_length(b));
        if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        b->start += (size_t)n;
    }
    b->start = b->end = 0;
    return 0;
}

static void pending_free(struct buffer *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

enum channel_kind { CHANNEL_SESSION, CHANNEL_FORWARD };

struct connection;

/* One channel: a `sh -c` command (session) or a TCP connection (direct-tcpip). */
struct channel {
    struct connection *connection;
    struct channel *next;
    ssh_channel channel;
    struct ssh_channel_callbacks_struct callbacks;
    enum channel_kind kind;
    /* Towards the command's stdin or the forwarded socket. */
    int sink_fd;
    struct buffer to_sink;
    int remote_eof;     /* the client sent EOF: close sink_fd once to_sink drained */
    int sink_closed;
    /* From the command's stdout/stderr or the forwarded socket. */
    int source_fd, error_fd;
    /* Command only. */
    pid_t pid;
    int pid_fd;
    int exited, exit_status, exit_signal;
    int finished; /* exit status, EOF and close were sent */
    int dead;     /* free at the end of the loop iteration */
};

enum connection_state { KEY_EXCHANGE, RUNNING };

/* Reached through the epoll registrations of its descriptors: no list of all connections to walk. */
struct connection {
    ssh_session session;
    ssh_event event;
    int fd;
    enum connection_state state;
    int authenticated;
    int dead;
    struct ssh_server_callbacks_struct callbacks;
    struct channel *channels;
};

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void set_int_option(int fd, int level, int option) {
    int one = 1;
    setsockopt(fd, level, option, &one, sizeof one);
}

static int pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/* ---- the epoll set ---- */

static int epoll_fd = -1;
/* What each descriptor is in the set for (0: not in it), and whose it is; indexed by descriptor. */
struct registration {
    uint32_t events;
    struct connection *conn;
};
static struct registration *registrations = NULL;
static size_t registrations_size = 0;

/* Puts fd in the set for `events` (0 takes it out), on behalf of conn; only calls epoll_ctl on a change. */
static void watch_fd(int fd, uint32_t events, struct connection *conn) {
    if (fd < 0) return;
    if ((size_t)fd >= registrations_size) {
        size_t size = registrations_size ? registrations_size : 1024;
        while (size <= (size_t)fd) size *= 2;
        registrations = realloc(registrations, size * sizeof *registrations);
        if (!registrations) abort();
        memset(registrations + registrations_size, 0, (size - registrations_size) * sizeof *registrations);
        registrations_size = size;
    }
    struct registration *r = &registrations[fd];
    r->conn = conn;
    if (r->events == events) return;
    struct epoll_event event = {.events = events, .data.fd = fd};
    int op = events == 0 ? EPOLL_CTL_DEL : r->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(epoll_fd, op, fd, &event) < 0) perror("epoll_ctl");
    r->events = events;
}

/* Out of the set before the close: the descriptor number may come back for something else at once. */
static void close_fd(int *fd) {
    if (*fd >= 0) {
        watch_fd(*fd, 0, NULL);
        close(*fd);
    }
    *fd = -1;
}

/* ---- channel callbacks ---- */

static int on_data(ssh_session session, ssh_channel ch, void *data, uint32_t length, int is_stderr,
                   void *userdata) {
    (void)session, (void)ch, (void)is_stderr;
    struct channel *c = userdata;
    if (c->sink_closed || c->sink_fd < 0) return (int)length;
    size_t taken = 0;
    if (pending_length(&c->to_sink) == 0) {
        ssize_t n = write(c->sink_fd, data, length);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            close_fd(&c->sink_fd);
            c->sink_closed = 1;
            return (int)length;
        }
        taken = n > 0 ? (size_t)n : 0;
    }
    size_t room = PENDING_CAP > pending_length(&c->to_sink) ? PENDING_CAP - pending_length(&c->to_sink) : 0;
    size_t rest = length - taken;
    if (rest > room) rest = room; /* libssh keeps the rest; we read it once the sink drained */
    pending_append(&c->to_sink, (char *)data + taken, rest);
    return (int)(taken + rest);
}

static void close_sink_if_done(struct channel *c) {
    if (c->remote_eof && !c->sink_closed && pending_length(&c->to_sink) == 0 &&
        ssh_channel_poll(c->channel, 0) <= 0) {
        if (c->kind == CHANNEL_FORWARD) shutdown(c->sink_fd, SHUT_WR);
        else close_fd(&c->sink_fd);
        c->sink_closed = 1;
    }
}

static void on_eof(ssh_session session, ssh_channel ch, void *userdata) {
    (void)session, (void)ch;
    struct channel *c = userdata;
    c->remote_eof = 1;
    close_sink_if_done(c);
}

static void on_close(ssh_session session, ssh_channel ch, void *userdata) {
    (void)session, (void)ch;
    struct channel *c = userdata;
    c->dead = 1;
}

static int on_exec(ssh_session session, ssh_channel ch, const char *command, void *userdata) {
    (void)session, (void)ch;
    struct channel *c = userdata;
    if (c->pid > 0) return -1;
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) < 0) return -1;
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]), close(in[1]);
        return -1;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close(in[0]), close(out[1]), close(err[1]);
    if (rc != 0) {
        close(in[1]), close(out[0]), close(err[0]);
        return -1;
    }
    c->pid = pid;
    c->pid_fd = pidfd_open(pid);
    c->sink_fd = in[1];
    c->source_fd = out[0];
    c->error_fd = err[0];
    set_nonblocking(c->sink_fd);
    set_nonblocking(c->source_fd);
    set_nonblocking(c->error_fd);
    return 0;
}

static struct channel *bench_channel_new(struct connection *conn, ssh_channel ch, enum channel_kind kind) {
    struct channel *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->connection = conn;
    c->channel = ch;
    c->kind = kind;
    c->sink_fd = c->source_fd = c->error_fd = c->pid_fd = -1;
    c->callbacks.userdata = c;
    c->callbacks.channel_data_function = on_data;
    c->callbacks.channel_eof_function = on_eof;
    c->callbacks.channel_close_function = on_close;
    if (kind == CHANNEL_SESSION) c->callbacks.channel_exec_request_function = on_exec;
    ssh_callbacks_init(&c->callbacks);
    ssh_set_channel_callbacks(ch, &c->callbacks);
    c->next = conn->channels;
    conn->channels = c;
    return c;
}

/* Frees a channel; never called from inside a libssh callback. */
static void bench_channel_free(struct channel *c, int session_alive) {
    if (c->pid > 0 && !c->exited) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    close_fd(&c->pid_fd);
    if (c->source_fd == c->sink_fd) c->source_fd = -1; /* a forwarded socket: one descriptor both ways */
    close_fd(&c->sink_fd);
    close_fd(&c->source_fd);
    close_fd(&c->error_fd);
    pending_free(&c->to_sink);
    if (session_alive) {
        ssh_remove_channel_callbacks(c->channel, &c->callbacks);
        ssh_channel_close(c->channel);
        ssh_channel_free(c->channel);
    }
    free(c);
}

/* ---- server callbacks ---- */

static int on_auth_password(ssh_session session, const char *user, const char *pass, void *userdata) {
    (void)session, (void)user;
    struct connection *conn = userdata;
    if (strcmp(pass, password) != 0) return SSH_AUTH_DENIED;
    conn->authenticated = 1;
    return SSH_AUTH_SUCCESS;
}

static ssh_channel on_session_channel(ssh_session session, void *userdata) {
    struct connection *conn = userdata;
    if (!conn->authenticated) return NULL;
    ssh_channel ch = ssh_channel_new(session);
    if (!ch) return NULL;
    bench_channel_new(conn, ch, CHANNEL_SESSION);
    return ch;
}

/* direct-tcpip opens only arrive here in libssh 0.10: connect first, accept only when it worked. */
static int on_message(ssh_session session, ssh_message message, void *userdata) {
    (void)session;
    struct connection *conn = userdata;
    if (!conn->authenticated || ssh_message_type(message) != SSH_REQUEST_CHANNEL_OPEN ||
        ssh_message_subtype(message) != SSH_CHANNEL_DIRECT_TCPIP) {
        return 1;
    }
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_port = htons((uint16_t)ssh_message_channel_request_open_destination_port(message));
    const char *host = ssh_message_channel_request_open_destination(message);
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) return 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 1;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        close(fd);
        return 1;
    }
    set_nonblocking(fd);
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY);
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(message);
    if (!ch) {
        close(fd);
        return 0;
    }
    struct channel *c = bench_channel_new(conn, ch, CHANNEL_FORWARD);
    c->sink_fd = fd;
    c->source_fd = fd;
    return 0;
}

/* ---- the loop ---- */

static struct connection *connection_accept(ssh_bind bind) {
    ssh_session session = ssh_new();
    if (!session) return NULL;
    if (ssh_bind_accept(bind, session) != SSH_OK) {
        ssh_free(session);
        return NULL;
    }
    struct connection *conn = calloc(1, sizeof *conn);
    if (!conn) abort();
    conn->session = session;
    conn->fd = ssh_get_fd(session);
    conn->state = KEY_EXCHANGE;
    ssh_set_blocking(session, 0);
    set_nonblocking(conn->fd);
    set_int_option(conn->fd, IPPROTO_TCP, TCP_NODELAY);
    conn->callbacks.userdata = conn;
    conn->callbacks.auth_password_function = on_auth_password;
    conn->callbacks.channel_open_request_session_function = on_session_channel;
    ssh_callbacks_init(&conn->callbacks);
    ssh_set_server_callbacks(session, &conn->callbacks);
    ssh_set_auth_methods(session, SSH_AUTH_METHOD_PASSWORD);
    ssh_set_message_callback(session, on_message, conn);
    return conn;
}

static void connection_free(struct connection *conn) {
    while (conn->channels) {
        struct channel *c = conn->channels;
        conn->channels = c->next;
        bench_channel_free(c, 0); /* ssh_free frees the native channels */
    }
    if (conn->event) {
        ssh_event_remove_session(conn->event, conn->session);
        ssh_event_free(conn->event);
    }
    ssh_disconnect(conn->session);
    ssh_free(conn->session);
    free(conn);
}

static int session_write_pending(struct connection *conn) {
    return (ssh_get_poll_flags(conn->session) & SSH_WRITE_PENDING) != 0;
}

/* Moves a readable pipe/socket into the channel, as far as the window allows. */
static void pump_to_channel(struct channel *c, int *fd, int is_stderr) {
    static char chunk[READ_CHUNK];
    uint32_t window = ssh_channel_window_size(c->channel);
    if (window == 0 || session_write_pending(c->connection)) return;
    size_t want = window < sizeof chunk ? window : sizeof chunk;
    ssize_t n = read(*fd, chunk, want);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
        if (c->kind == CHANNEL_FORWARD) {
            /* The target finished: EOF to the client, and close once the client is done too. */
            ssh_channel_send_eof(c->channel);
            c->source_fd = -1; /* same fd as sink_fd, closed with it */
        } else {
            close_fd(fd);
        }
        return;
    }
    int written = is_stderr ? ssh_channel_write_stderr(c->channel, chunk, (uint32_t)n)
                            : ssh_channel_write(c->channel, chunk, (uint32_t)n);
    if (written != n) c->dead = 1; /* cannot happen below the window; treat as a broken channel */
}

/* Takes what libssh kept while the sink was full. */
static void refill_from_channel(struct channel *c) {
    static char chunk[READ_CHUNK];
    while (!c->sink_closed && pending_length(&c->to_sink) < PENDING_CAP) {
        size_t want = PENDING_CAP - pending_length(&c->to_sink);
        if (want > sizeof chunk) want = sizeof chunk;
        int n = ssh_channel_read_nonblocking(c->channel, chunk, (uint32_t)want, 0);
        if (n <= 0) break;
        pending_append(&c->to_sink, chunk, (size_t)n);
        if (pending_flush(&c->to_sink, c->sink_fd) < 0) break;
    }
}

/* A command that exited and whose output is all sent: status, EOF, close. */
static void finish_command(struct channel *c) {
    if (c->finished || !c->exited || c->source_fd >= 0 || c->error_fd >= 0) return;
    if (c->exit_signal) {
        const char *name = c->exit_signal == SIGKILL ? "KILL" : c->exit_signal == SIGTERM ? "TERM"
                         : c->exit_signal == SIGINT  ? "INT"
                         : c->exit_signal == SIGPIPE ? "PIPE" : "HUP";
        ssh_channel_request_send_exit_signal(c->channel, name, 0, "", "");
    } else {
        ssh_channel_request_send_exit_status(c->channel, c->exit_status);
    }
    ssh_channel_send_eof(c->channel);
    ssh_channel_close(c->channel);
    c->finished = 1;
}

/* A forwarded connection both of whose directions ended: close the channel. */
static void finish_forward(struct channel *c) {
    if (c->finished || c->source_fd >= 0 || !c->sink_closed) return;
    ssh_channel_close(c->channel);
    c->finished = 1;
}

static void progress(struct connection *conn) {
    for (struct channel *c = conn->channels; c; c = c->next) {
        if (c->dead) continue;
        if (c->kind == CHANNEL_SESSION) finish_command(c);
        else finish_forward(c);
    }
}

/* As the binding does (src/session.ts): at most this many ssh_event_dopoll calls per wake-up. */
#define DOPOLL_BATCH 64
/* Ready descriptors taken per epoll_wait, as the binding does (ffi/poller.ts). */
#define EPOLL_BATCH 256

/* What a connection's descriptors wait for now, put into the epoll set (changes only). */
static void update_interest(struct connection *conn) {
    int pending = session_write_pending(conn);
    watch_fd(conn->fd, EPOLLIN | (pending ? EPOLLOUT : 0), conn);
    for (struct channel *c = conn->channels; c; c = c->next) {
        if (c->dead) continue;
        int can_send = !pending && !c->finished && ssh_channel_window_size(c->channel) > 0;
        uint32_t source = c->source_fd >= 0 && can_send ? EPOLLIN : 0;
        uint32_t sink = c->sink_fd >= 0 && !c->sink_closed && pending_length(&c->to_sink) > 0 ? EPOLLOUT : 0;
        if (c->kind == CHANNEL_FORWARD && c->source_fd >= 0 && c->source_fd == c->sink_fd) {
            watch_fd(c->sink_fd, source | sink, conn); /* one socket both ways: one registration */
        } else {
            watch_fd(c->source_fd, source, conn);
            watch_fd(c->sink_fd, sink, conn);
        }
        watch_fd(c->error_fd, c->error_fd >= 0 && can_send ? EPOLLIN : 0, conn);
        watch_fd(c->pid_fd, c->pid_fd >= 0 && !c->exited ? EPOLLIN : 0, conn);
    }
}

/* Takes every descriptor of a connection out of the set, before they are closed. */
static void forget_connection(struct connection *conn) {
    watch_fd(conn->fd, 0, NULL);
    for (struct channel *c = conn->channels; c; c = c->next) {
        watch_fd(c->source_fd, 0, NULL);
        watch_fd(c->sink_fd, 0, NULL);
        watch_fd(c->error_fd, 0, NULL);
        watch_fd(c->pid_fd, 0, NULL);
    }
}

/* One ready descriptor of a connection: the socket, or one of a channel's pipes or sockets. */
static void handle_ready(struct connection *conn, int fd, uint32_t revents) {
    if (fd == conn->fd) {
        if (conn->state == KEY_EXCHANGE) {
            /* Linux clears QUICKACK by itself: without it OpenSSH clients wait ~40 ms per round trip. */
            set_int_option(conn->fd, IPPROTO_TCP, TCP_QUICKACK);
            int rc = ssh_handle_key_exchange(conn->session);
            if (rc == SSH_OK) {
                conn->state = RUNNING;
                conn->event = ssh_event_new();
                ssh_event_add_session(conn->event, conn->session);
            } else if (rc != SSH_AGAIN) {
                conn->dead = 1;
            }
        } else {
            if (!conn->authenticated) set_int_option(conn->fd, IPPROTO_TCP, TCP_QUICKACK);
            /* libssh reads 4 KiB per call: drain what the socket has (bounded) in one wake-up. */
            for (int round = 0; round < DOPOLL_BATCH && !conn->dead; round++) {
                if (ssh_event_dopoll(conn->event, 0) != SSH_OK) break;
            }
            if (ssh_get_status(conn->session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) conn->dead = 1;
            else if ((revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)) conn->dead = 1;
        }
        return;
    }
    for (struct channel *c = conn->channels; c; c = c->next) {
        if (c->dead) continue;
        if (fd == c->source_fd && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) pump_to_channel(c, &c->source_fd, 0);
        if (fd == c->error_fd && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) pump_to_channel(c, &c->error_fd, 1);
        if (fd == c->sink_fd && !c->sink_closed && (revents & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
            if (pending_flush(&c->to_sink, c->sink_fd) < 0) {
                close_fd(&c->sink_fd);
                c->sink_closed = 1;
            } else if (pending_length(&c->to_sink) == 0) {
                refill_from_channel(c);
            }
            close_sink_if_done(c);
        }
        if (fd == c->pid_fd) {
            int status;
            if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
                c->exited = 1;
                if (WIFSIGNALED(status)) c->exit_signal = WTERMSIG(status);
                else c->exit_status = WEXITSTATUS(status);
                close_fd(&c->pid_fd);
            }
        }
    }
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *host_key = NULL, *kex = NULL, *ciphers = NULL, *hostkey_algorithms = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--password")) password = argv[i + 1];
        else if (!strcmp(argv[i], "--host-key")) host_key = argv[i + 1];
        else if (!strcmp(argv[i], "--kex")) kex = argv[i + 1];
        else if (!strcmp(argv[i], "--ciphers")) ciphers = argv[i + 1];
        else if (!strcmp(argv[i], "--hostkey-algorithms")) hostkey_algorithms = argv[i + 1];
        else {
            fprintf(stderr, "bench_server: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!host_key) {
        fprintf(stderr, "usage: bench_server --host-key FILE [--host ADDR] [--port N] [--password PW] "
                        "[--kex LIST] [--ciphers LIST] [--hostkey-algorithms LIST]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    ssh_init();
    ssh_bind bind = ssh_bind_new();
    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDADDR, host);
    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDPORT, &port);
    if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY, host_key) != SSH_OK ||
        (kex && ssh_bind_options_set(bind, SSH_BIND_OPTIONS_KEY_EXCHANGE, kex) != SSH_OK) ||
        (ciphers && (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_C_S, ciphers) != SSH_OK ||
                     ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_S_C, ciphers) != SSH_OK)) ||
        (hostkey_algorithms &&
         ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, hostkey_algorithms) != SSH_OK) ||
        ssh_bind_listen(bind) != SSH_OK) {
        fprintf(stderr, "bench_server: %s\n", ssh_get_error(bind));
        return 1;
    }
    ssh_bind_set_blocking(bind, 0);
    int bind_fd = ssh_bind_get_fd(bind);
    struct sockaddr_in local;
    socklen_t local_length = sizeof local;
    getsockname(bind_fd, (struct sockaddr *)&local, &local_length);
    printf("{\"host\":\"%s\",\"port\":%d}\n", host, ntohs(local.sin_port));
    fflush(stdout);

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) {
        perror("epoll_create1");
        return 1;
    }
    struct epoll_event bind_event = {.events = EPOLLIN, .data.fd = bind_fd};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, bind_fd, &bind_event);
    struct epoll_event ready[EPOLL_BATCH];
    struct connection *touched[EPOLL_BATCH];
    for (;;) {
        int count = epoll_wait(epoll_fd, ready, EPOLL_BATCH, -1);
        if (count < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        int touched_count = 0;
        for (int i = 0; i < count; i++) {
            int fd = ready[i].data.fd;
            if (fd == bind_fd) {
                struct connection *conn = connection_accept(bind);
                if (conn) watch_fd(conn->fd, EPOLLIN, conn);
                continue;
            }
            /* A descriptor closed earlier in this batch is no longer in the table (or belongs to
             * someone new, who then gets one spurious non-blocking look: harmless). */
            struct connection *conn = (size_t)fd < registrations_size ? registrations[fd].conn : NULL;
            if (!conn || conn->dead || registrations[fd].events == 0) continue;
            handle_ready(conn, fd, ready[i].events);
            if (!conn->dead) progress(conn);
            int seen = 0;
            for (int j = 0; j < touched_count && !seen; j++) seen = touched[j] == conn;
            if (!seen) touched[touched_count++] = conn;
        }
        /* New interests of the connections this batch touched; free what ended, outside every libssh callback. */
        for (int i = 0; i < touched_count; i++) {
            struct connection *conn = touched[i];
            if (conn->dead) {
                forget_connection(conn);
                connection_free(conn);
                continue;
            }
            for (struct channel **clink = &conn->channels; *clink;) {
                struct channel *c = *clink;
                if (c->dead) {
                    watch_fd(c->source_fd, 0, NULL);
                    watch_fd(c->sink_fd, 0, NULL);
                    watch_fd(c->error_fd, 0, NULL);
                    watch_fd(c->pid_fd, 0, NULL);
                    *clink = c->next;
                    bench_channel_free(c, 1);
                } else {
                    clink = &c->next;
                }
            }
            update_interest(conn);
        }
    }
}
