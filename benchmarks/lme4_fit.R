# Time lme4's lmer(formula, data, REML = TRUE) on a CSV written by the Python benchmarks.
#
#   Rscript benchmarks/lme4_fit.R DATA.csv "FORMULA" FACTOR_COLUMNS [REPEATS]
#
# FACTOR_COLUMNS is a comma-separated list of the columns to make factors ("" for none).
# Only lmer() is timed: R's start-up, library(lme4), reading the CSV and making the factors
# happen before the clock starts. With REPEATS > 1, one untimed warm-up fit runs first and the
# median of REPEATS timed fits is reported. The last line of the output is one JSON object:
# seconds (median), all_seconds, REML criterion, feval (fit@optinfo$feval), theta, the
# R peak memory ("max used" of gc(), in MB, over the timed fits) and the versions.

suppressMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) stop("usage: lme4_fit.R DATA.csv FORMULA FACTOR_COLUMNS [REPEATS]")
path <- args[1]
form <- as.formula(args[2])
factors <- if (nzchar(args[3])) strsplit(args[3], ",", fixed = TRUE)[[1]] else character(0)
repeats <- if (length(args) >= 4) as.integer(args[4]) else 1L

data <- read.csv(path, colClasses = setNames(rep("character", length(factors)), factors))
for (column in factors) data[[column]] <- factor(data[[column]])

fit_once <- function() lmer(form, data, REML = TRUE)

if (repeats > 1) invisible(fit_once())
invisible(gc(reset = TRUE))
baseline_mb <- sum(gc()[, 2])
seconds <- numeric(repeats)
for (r in seq_len(repeats)) {
  started <- proc.time()[["elapsed"]]
  fit <- fit_once()
  seconds[r] <- proc.time()[["elapsed"]] - started
}
peak_mb <- sum(gc()[, 6])   # "max used" (Mb) of Ncells and Vcells since the reset

numbers <- function(x) paste0("[", paste(sprintf("%.10g", x), collapse = ", "), "]")
cat(sprintf(paste0(
  '{"seconds": %.6f, "all_seconds": %s, "reml": %.10f, "feval": %d, "theta": %s, ',
  '"r_peak_mb": %.1f, "r_baseline_mb": %.1f, "nobs": %d, "lme4": "%s", "R": "%s"}\n'),
  median(seconds), numbers(seconds), as.numeric(REMLcrit(fit)),
  as.integer(fit@optinfo$feval), numbers(getME(fit, "theta")), peak_mb, baseline_mb,
  nobs(fit), as.character(packageVersion("lme4")), paste(R.version$major, R.version$minor,
  sep = ".")))
