# Perl: regexes, hashes and sub calls.
my %h; sub bump { my ($k) = @_; $h{$k}++ }
for my $i (1..800000) { my $s = "key$i-" . ($i % 977); if ($s =~ /(\d+)-(\d+)$/) { bump($2) } }
print scalar(keys %h), "\n";
