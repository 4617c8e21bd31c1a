# Likelihood-ratio tables of lme4 1.1-31 (Debian r-cran-lme4) for tests/test_comparison.py,
# made by
#   Rscript tests/reference/lme4_anova.R      (from the repository root)
# It writes tests/reference/lme4_anova.json. R is not needed to run the tests.
# Each case: anova(m0, m1, refit = <refit>) on sleepstudy; lme4's default refit = TRUE fits
# REML models again by ML before comparing.
suppressMessages({library(lme4); library(jsonlite)})
sleep <- read.csv(file.path("lmm_teach", "data", "sleepstudy.csv"))
sleep$Subject <- factor(sleep$Subject)

cases <- list(
  list(name = "random_part_refit", formulas = c("Reaction ~ Days + (1 | Subject)",
                                                "Reaction ~ Days + (Days | Subject)"),
       reml = TRUE, refit = TRUE),
  list(name = "random_part_reml", formulas = c("Reaction ~ Days + (1 | Subject)",
                                               "Reaction ~ Days + (Days | Subject)"),
       reml = TRUE, refit = FALSE),
  list(name = "fixed_part_ml", formulas = c("Reaction ~ 1 + (Days | Subject)",
                                            "Reaction ~ Days + (Days | Subject)"),
       reml = FALSE, refit = TRUE)
)

one <- function(case) {
  m0 <- lmer(as.formula(case$formulas[1]), data = sleep, REML = case$reml)
  m1 <- lmer(as.formula(case$formulas[2]), data = sleep, REML = case$reml)
  table <- as.data.frame(anova(m0, m1, refit = case$refit))
  list(name = case$name, formulas = case$formulas, reml = case$reml, refit = case$refit,
       r_call = sprintf("anova(lmer(f0, sleepstudy, REML = %s), lmer(f1, sleepstudy, REML = %s), refit = %s)",
                        case$reml, case$reml, case$refit),
       columns = I(names(table)),
       rows = lapply(seq_len(nrow(table)), function(i) as.list(unlist(table[i, ]))))
}

writeLines(toJSON(list(lme4_version = as.character(packageVersion("lme4")),
                       cases = lapply(cases, one)),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path("tests", "reference", "lme4_anova.json"))
