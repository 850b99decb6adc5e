#!/usr/bin/perl
# The machine's one metrics endpoint: answers GET /metrics, and nothing else, for Fly's Prometheus
# scraper (fly.toml [metrics]). Started by run.sh; exits when run.sh's process (Litestream on the
# primary, sqld on a replica) does.
#
# Why a gate and not sqld's admin API itself: the admin API serves /metrics beside routes that
# create, fork and delete namespaces, change their config and the log filter, and profile the heap
# (libsql-server src/http/admin/mod.rs), and its auth key guards /metrics too, while Fly's scraper
# sends no credentials. Litestream's `addr` server is Go's default mux, which also holds
# net/http/pprof (cmd/litestream/replicate.go). So both stay on loopback, and this script is the
# only thing that listens for the scraper. It never forwards what a client sends: it fetches fixed
# paths from fixed loopback addresses and writes what it got, plus what neither upstream exports.
#
# Perl because the image has it: libsql-server's runtime image is debian:bullseye-slim, where
# perl-base is an Essential package. Only modules from perl-base are used (tests check the list).
#
# Environment (run.sh sets it):
#   METRICS_LISTEN_ADDR        HOST:PORT to serve on (Fly scrapes 0.0.0.0, per its metrics docs)
#   METRICS_SQLD_ADMIN         sqld's admin API, loopback HOST:PORT
#   LIBSQL_ADMIN_AUTH_KEY      the admin API's key (sqld reads the same variable)
#   METRICS_ROLE, METRICS_REGION   primary|replica, and the Fly region
#   METRICS_LITESTREAM_ADDR    Litestream's metrics server, loopback HOST:PORT (primary only)
#   METRICS_LITESTREAM_SOCKET  Litestream's control socket (primary only)
#   LITESTREAM_CONFIG          Litestream's config, for the sync interval (primary only)
#   DATA_DIR                   the volume's mount point
use strict;
use warnings;
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(AF_INET AF_INET6 SOCK_STREAM SOL_SOCKET SO_REUSEADDR inet_pton
  pack_sockaddr_in pack_sockaddr_in6);

my $UPSTREAM_TIMEOUT = 1;    # seconds per upstream: a stopped Litestream must not stall a scrape
my $REQUEST_TIMEOUT  = 2;    # seconds for a client to send its request head
my $MAX_REQUEST      = 8192;

my %env = map { $_ => ($ENV{$_} // '') } qw(METRICS_LISTEN_ADDR METRICS_SQLD_ADMIN
  LIBSQL_ADMIN_AUTH_KEY METRICS_ROLE METRICS_REGION METRICS_LITESTREAM_ADDR
  METRICS_LITESTREAM_SOCKET LITESTREAM_CONFIG DATA_DIR);
my $primary = $env{METRICS_ROLE} eq 'primary';
my $last_sync;    # Litestream's last successful sync (epoch seconds), kept while it is unreachable

sub say_err { print STDERR "metrics.pl: @_\n" }

sub split_addr {
  my ($addr) = @_;
  my ($host, $port) = $addr =~ /^\[?([^\[\]]*?)\]?:(\d+)$/ or die "not HOST:PORT: '$addr'\n";
  $host = '127.0.0.1' if $host eq 'localhost';
  return ($host, $port);
}

sub sockaddr_of {
  my ($host, $port) = @_;
  my $family = $host =~ /:/ ? AF_INET6 : AF_INET;
  my $ip = inet_pton($family, $host) or die "not an IP address: '$host'\n";
  return ($family, $family == AF_INET6 ? pack_sockaddr_in6($port, $ip) : pack_sockaddr_in($port, $ip));
}

# Reads from a handle until `$done` matches what was read, EOF, `$max` bytes, or `$timeout`
# seconds without data (counted in select() slices: perl-base has no sub-second clock).
sub read_until {
  my ($fh, $done, $max, $timeout) = @_;
  my ($data, $idle, $select) = ('', 0, IO::Select->new($fh));
  while (length($data) < $max && !($done && $data =~ $done)) {
    if (!$select->can_read(0.1)) {
      last if ($idle += 0.1) >= $timeout;
      next;
    }
    my $n = sysread($fh, my $chunk, 65536);
    last unless $n;
    $data .= $chunk;
  }
  return $data;
}

# GET `$path` over an open stream; returns the body of a 200 answer, else undef.
sub http_get_on {
  my ($fh, $path, $key) = @_;
  my $auth = $key ne '' ? "Authorization: Basic $key\r\n" : '';
  syswrite($fh, "GET $path HTTP/1.0\r\nHost: localhost\r\n${auth}Connection: close\r\n\r\n");
  my $answer = read_until($fh, undef, 16 << 20, $UPSTREAM_TIMEOUT);
  close $fh;
  my ($status, $body) = $answer =~ m{^HTTP/1\.[01] (\d{3})[^\n]*\n.*?\r?\n\r?\n(.*)\z}s;
  return defined $status && $status eq '200' ? $body : undef;
}

sub http_get {
  my ($addr, $path, $key) = @_;
  return undef if $addr eq '';
  my ($family, $sockaddr) = sockaddr_of(split_addr($addr));
  socket(my $fh, $family, SOCK_STREAM, 0) or return undef;
  connect($fh, $sockaddr) or return undef;
  return http_get_on($fh, $path, $key // '');
}

sub unix_get {
  my ($socket_path, $path) = @_;
  return undef if $socket_path eq '';
  my $fh = IO::Socket::UNIX->new(Peer => $socket_path, Type => SOCK_STREAM) or return undef;
  return http_get_on($fh, $path, '');
}

sub label {
  my ($value) = @_;
  $value =~ s/(["\\])/\\$1/g;
  $value =~ s/\n/\\n/g;
  return $value;
}

# Appends an upstream's exposition, dropping a family whose TYPE was already given and any series
# already written: sqld 0.24 renders libsql_server_count both as a counter and as a gauge, and
# Prometheus refuses a scrape that repeats a family or a series.
sub append_exposition {
  my ($out, $text, $typed, $seen) = @_;
  my ($help, $skip) = (undef, 0);
  for my $line (split /\n/, $text) {
    if ($line =~ /^# HELP (\S+)/) {
      $help = $line;
    } elsif ($line =~ /^# TYPE (\S+)/) {
      my $name = $1;
      $skip = $typed->{$name}++ ? 1 : 0;
      if (!$skip) {
        push @$out, $help if $help && $help =~ /^# HELP \Q$name\E /;
        push @$out, $line;
      }
      $help = undef;
    } elsif ($line =~ /^\s*(#|$)/) {
      next;
    } elsif (!$skip) {
      my ($series) = $line =~ /^(\S+?(?:\{.*\})?)\s/;
      push @$out, $line if defined $series && !$seen->{$series}++;
    }
  }
}

sub gauge {
  my ($out, $name, $help, @samples) = @_;
  push @$out, "# HELP $name $help", "# TYPE $name gauge";
  while (my ($labels, $value) = splice(@samples, 0, 2)) {
    push @$out, "$name$labels $value";
  }
}

sub days_from_civil {    # days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant)
  my ($y, $m, $d) = @_;
  $y -= $m <= 2;
  my $era = int(($y >= 0 ? $y : $y - 399) / 400);
  my $yoe = $y - $era * 400;
  my $doy = int((153 * ($m + ($m > 2 ? -3 : 9)) + 2) / 5) + $d - 1;
  my $doe = $yoe * 365 + int($yoe / 4) - int($yoe / 100) + $doy;
  return $era * 146097 + $doe - 719468;
}

sub rfc3339_epoch {    # Go's time.Time JSON: 2026-11-30T01:53:51.300793667Z or ...+01:00
  my ($text) = @_;
  my ($y, $mo, $d, $h, $mi, $s, $frac, $zone) =
    $text =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/ or return undef;
  my $epoch = days_from_civil($y, $mo, $d) * 86400 + $h * 3600 + $mi * 60 + $s + ($frac // 0);
  if ($zone ne 'Z') {
    my ($sign, $zh, $zm) = $zone =~ /([+-])(\d\d):(\d\d)/;
    $epoch -= ($sign eq '-' ? -1 : 1) * ($zh * 3600 + $zm * 60);
  }
  return $epoch;
}

sub sync_interval_seconds {    # the `sync-interval:` of Litestream's config (1s, 500ms, 5m, 1h)
  open(my $fh, '<', $env{LITESTREAM_CONFIG}) or return undef;
  while (my $line = <$fh>) {
    my ($n, $unit) = $line =~ /^\s*sync-interval:\s*(\d+(?:\.\d+)?)(ms|s|m|h)\s*$/ or next;
    return $n * { ms => 0.001, s => 1, m => 60, h => 3600 }->{$unit};
  }
  return undef;
}

sub volume_bytes {    # (size, used, free to the database's user) of DATA_DIR's file system
  open(my $df, '-|', 'df', '-P', '-k', $env{DATA_DIR}) or return ();
  my @lines = <$df>;
  close $df;
  my (undef, $blocks, $used, $avail) = split ' ', ($lines[-1] // '');
  return () unless defined $avail && "$blocks$used$avail" =~ /^\d+$/;
  return ($blocks * 1024, $used * 1024, $avail * 1024);
}

sub render {
  my (@out, %typed, %seen);
  my $sqld = http_get($env{METRICS_SQLD_ADMIN}, '/metrics', $env{LIBSQL_ADMIN_AUTH_KEY});
  append_exposition(\@out, $sqld, \%typed, \%seen) if defined $sqld;
  my @up = ('{source="sqld"}', defined $sqld ? 1 : 0);

  my $role = label($env{METRICS_ROLE});
  my @own;
  gauge(\@own, 'dbnode_info', 'This machine: its role (primary or replica) and Fly region.',
    sprintf('{role="%s",region="%s"}', $role, label($env{METRICS_REGION})), 1);
  my $stats = http_get($env{METRICS_SQLD_ADMIN}, '/v1/namespaces/default/stats',
    $env{LIBSQL_ADMIN_AUTH_KEY});
  if (defined $stats && $stats =~ /"replication_index":(\d+)/) {
    gauge(\@own, 'dbnode_replication_index',
      'Frame number of the last change this machine holds (a replica lags the primary by the difference).',
      qq({role="$role"}), $1);
  }
  if (my ($size, $used, $free) = volume_bytes()) {
    gauge(\@own, 'dbnode_volume_size_bytes', 'Size of the file system under DATA_DIR.', '', $size);
    gauge(\@own, 'dbnode_volume_used_bytes', 'Bytes used on the file system under DATA_DIR.', '', $used);
    gauge(\@own, 'dbnode_volume_free_bytes',
      'Bytes the database can still write under DATA_DIR (available to unprivileged users).', '', $free);
  }

  if ($primary) {
    my $litestream = http_get($env{METRICS_LITESTREAM_ADDR}, '/metrics');
    append_exposition(\@out, $litestream, \%typed, \%seen) if defined $litestream;
    my $list = unix_get($env{METRICS_LITESTREAM_SOCKET}, '/list');
    my $synced = defined $list && $list =~ /"last_sync_at":"([^"]+)"/ ? rfc3339_epoch($1) : undef;
    $last_sync = $synced if defined $synced;
    push @up, '{source="litestream"}', defined $litestream ? 1 : 0,
      '{source="litestream_control"}', defined $list ? 1 : 0;
    gauge(\@own, 'dbnode_backup_last_sync_timestamp_seconds',
      "Unix time of Litestream's last successful sync to the backup store.", '', $last_sync)
      if defined $last_sync;
    # Before the first sync, counted from this endpoint's start: a backup store that fails from
    # the first boot on shows a growing age too, not none.
    my $age = time - ($last_sync // $^T);
    gauge(\@own, 'dbnode_backup_age_seconds',
      "Seconds since Litestream's last successful sync, or since start before the first (whole-second clock).",
      '', $age > 0 ? sprintf('%.3f', $age) : 0);
    my $interval = sync_interval_seconds();
    gauge(\@own, 'dbnode_backup_sync_interval_seconds', "Litestream's configured sync-interval.",
      '', $interval) if defined $interval;
  }
  gauge(\@own, 'dbnode_up', 'Whether this endpoint could read each source on its last scrape.', @up);
  return join("\n", @out, @own) . "\n";
}

sub respond {
  my ($client, $status, $body, @headers) = @_;
  my $head = join '', map { "$_\r\n" } "HTTP/1.1 $status", @headers,
    'Content-Length: ' . length($body), 'Connection: close';
  syswrite($client, "$head\r\n$body");
}

sub serve {
  my ($client) = @_;
  my $request = read_until($client, qr/\r?\n\r?\n/, $MAX_REQUEST, $REQUEST_TIMEOUT);
  my ($method, $target) = $request =~ m{^([A-Z]+) (\S+) HTTP/1\.[01]\r?\n}
    or return respond($client, '400 Bad Request', "bad request\n", 'Content-Type: text/plain');
  (my $path = $target) =~ s/\?.*//s;
  return respond($client, '404 Not Found', "only /metrics is served here\n",
    'Content-Type: text/plain') if $path ne '/metrics';
  return respond($client, '405 Method Not Allowed', "GET /metrics only\n",
    'Allow: GET, HEAD', 'Content-Type: text/plain') if $method ne 'GET' && $method ne 'HEAD';
  my $body = render();
  my $type = 'Content-Type: text/plain; version=0.0.4; charset=utf-8';
  return respond($client, '200 OK', $method eq 'HEAD' ? '' : $body, $type);
}

# A malformed address is a startup error, not a scrape that fails later.
sockaddr_of(split_addr($env{$_})) for grep { $env{$_} ne '' } qw(METRICS_SQLD_ADMIN METRICS_LITESTREAM_ADDR);
my ($family, $sockaddr) = sockaddr_of(split_addr($env{METRICS_LISTEN_ADDR}));
socket(my $server, $family, SOCK_STREAM, 0) or die "metrics.pl: socket: $!\n";
setsockopt($server, SOL_SOCKET, SO_REUSEADDR, 1) or die "metrics.pl: setsockopt: $!\n";
bind($server, $sockaddr) or die "metrics.pl: cannot listen on $env{METRICS_LISTEN_ADDR}: $!\n";
listen($server, 16) or die "metrics.pl: listen: $!\n";
say_err("serving /metrics on http://$env{METRICS_LISTEN_ADDR}/metrics ($env{METRICS_ROLE})");

$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
my $parent  = getppid();
my $waiting = IO::Select->new($server);
while (getppid() == $parent) {    # reparented: the node is gone, and so are we
  next unless $waiting->can_read(0.2);
  accept(my $client, $server) or next;
  eval { serve($client); 1 } or say_err("error: $@");
  close $client;
}
