#!/usr/bin/perl
# convert.pl IN OUT - a kernels/ file as C++ for the emulated CUDA backend: each launch
# `kernel<<<grid, block, smem, stream>>>(args)` becomes a call of cudaemu.h's launcher,
# `zt_emu_launch(grid, block, smem, stream, key)(lambda calling kernel, args)`, and each dynamic shared array
# `extern __shared__ T name[];` a pointer to the launch's buffer. Nothing else changes.
use strict;
use warnings;

my ($in, $out) = @ARGV;
die "usage: convert.pl IN OUT\n" unless defined $out;
open(my $fh, '<', $in) or die "convert.pl: $in: $!\n";
local $/;
my $s = <$fh>;
close $fh;

# The kernel goes in as a generic lambda, so that a template's arguments are deduced as
# at a real launch; an explicit instantiation also names itself (cudaFuncSetAttribute's
# opt-in to more shared memory is the instantiation's). Line breaks are kept in place.
my $launches = ($s =~ s/\b([A-Za-z_]\w*)(\s*<[^<>;()]*>)?(\s*)<<<(.*?)>>>(\s*)\((\s*)(\)?)/
    launch($1, $2, $3 . $5 . $6, $4, $7)/gse);
sub launch {
    my ($name, $targs, $space, $cfg, $none) = @_;
    my $k = $name . ($targs // '');
    my $key = defined $targs ? "(const void *)&$k" : 'nullptr';
    my $lines = "\n" x ($space =~ tr/\n//);
    return "zt_emu_launch($cfg, $key)([=](auto &&...zt_a) { $k(zt_a...); }" .
        ($none ? ")" : ", ") . $lines;
}
my $left = () = $s =~ /<<<|>>>/g;
die "convert.pl: $in: a launch it cannot rewrite\n" if $left;
# __launch_bounds__(N, ...) becomes a check at the top of the kernel's body: a launch of
# more threads a block than N fails on the card.
my $paren = qr/\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)/;
$s =~ s/__launch_bounds__($paren)([^{;]*)\{/$2\{ zt_emu_bounds$1;/g;
$s =~ s/extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w ]+?)\s+(\w+)\[\]\s*;/$1 *$2 = ($1 *)zt_emu_dyn_smem();/g;

# a static __shared__ array: the block's (a function's static, one block runs at a time),
# NaN again at each block's first pass, so a slot nothing wrote in this block shows
$s =~ s/(?<!extern )__shared__\s+([\w ]+?)\s+(\w+)\[([^\];]+)\]\s*;/static $1 $2\[$3\]; zt_emu_shared_fresh($2, sizeof $2);/g;

open(my $oh, '>', $out) or die "convert.pl: $out: $!\n";
print $oh "// generated from $in by tests/cudaemu/convert.pl ($launches launches)\n#line 1 \"$in\"\n$s";
close $oh or die "convert.pl: $out: $!\n";
