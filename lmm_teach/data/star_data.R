# Exports the Tennessee STAR data of mlmRev 1.0-8 (Debian r-cran-mlmrev), unchanged, by
#   Rscript lmm_teach/data/star_data.R      (from the repository root)
# It writes lmm_teach/data/star.csv. R is never needed to build or test; this script is kept so
# that the file can be made again.
#
# mlmRev's `star`: 26,796 rows, one per pupil and grade (K, 1, 2, 3) of the Student/Teacher
# Achievement Ratio project (Word et al. 1990; Finn & Achilles 1990), with missing values
# written as NA. Factors are written as their labels, unquoted (no label holds a comma); the
# ordered factors gr, hdeg, birthq and birthy too. The check at the end reads the file back
# and compares every column, missing values included, with mlmRev's data.
suppressMessages(library(mlmRev))
data(star, package = "mlmRev")

path <- file.path("lmm_teach", "data", "star.csv")
write.csv(star, path, row.names = FALSE, quote = FALSE)  # no value holds a comma
back <- read.csv(path, stringsAsFactors = FALSE, colClasses = "character")
stopifnot(identical(names(back), names(star)), nrow(back) == nrow(star))
for (col in names(star)) {
  x <- star[[col]]
  stopifnot(identical(is.na(back[[col]]), is.na(x)))
  if (is.factor(x)) stopifnot(identical(back[[col]][!is.na(x)], as.character(x[!is.na(x)])))
  else stopifnot(all(as.numeric(back[[col]][!is.na(x)]) == x[!is.na(x)]))
}
cat(sprintf("%s: %d rows, %d missing values, columns %s\n", path, nrow(star), sum(is.na(star)),
            paste(names(star), collapse = ", ")))
