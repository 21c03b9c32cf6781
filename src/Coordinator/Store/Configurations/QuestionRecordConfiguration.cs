using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Activations.Coordinator.Store.Configurations;

sealed class QuestionRecordConfiguration : IEntityTypeConfiguration<QuestionRecord>
{
    public void Configure(EntityTypeBuilder<QuestionRecord> question)
    {
        question.ToTable("questions");
        question.HasKey(q => new { q.JobId, q.QuestionIndex });
        question.Property(q => q.JobId).HasColumnName("job_id");
        question.Property(q => q.QuestionIndex).HasColumnName("question_index");
        question.Property(q => q.PairId).HasColumnName("pair_id");
        question.Property(q => q.Label).HasColumnName("label").HasMaxLength(16);
        question.Property(q => q.Row).HasColumnName("row");
        question.Property(q => q.Text).HasColumnName("text");
        question.HasOne<JobRecord>().WithMany().HasForeignKey(q => q.JobId).OnDelete(DeleteBehavior.Cascade);
    }
}
