# One chart in the style of libev's published ones: time against the number
# of fds, one line per library, log-log.
#   gnuplot -e "data='a1.dat'; out='bench-a1.png'; heading='...'; ylabel='...'" bench/plot.gp
set terminal pngcairo size 800,500 noenhanced font ",10"
set output out
set title heading
set xlabel "number of fds (socketpairs)"
set ylabel ylabel
set logscale xy
set grid
set key top left autotitle columnhead
set datafile missing "NaN"
plot for [i=2:7] data using 1:i with linespoints linewidth 2 pointtype (i + 3)
